// clock.h — CLOCK / second chance (see clock.cpp). Handler thread only.
#pragma once

#include "policies/page_list.h"
#include "policies/policy.h"

namespace dime {

class ClockPolicy final : public ReplacementPolicy {
public:
    const char* name() const override { return "clock"; }
    bool init(size_t max_pages) override;
    void on_admit(PageId p) override;
    void on_forget(PageId p) override;
    PageId pick_victim() override;
    bool wants_access() const override { return true; }
    void on_access(PageId p) override { referenced_[p] = 1; }

private:
    PageLinks links_;
    PageList ring_;  // front = the clock hand
    MetaArray<uint8_t> referenced_;
};

}  // namespace dime
