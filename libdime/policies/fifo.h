// fifo.h — first in, first out replacement (see fifo.cpp).
#pragma once

#include "policies/policy.h"

namespace dime {

class FifoPolicy final : public ReplacementPolicy {
public:
    const char* name() const override { return "fifo"; }
    bool init(size_t max_pages) override;
    void on_admit(PageId p) override;
    void on_forget(PageId p) override;
    PageId pick_victim() override;

private:
    MetaArray<PageId> prev_, next_;
    PageId head_ = kNoPage, tail_ = kNoPage;
};

}  // namespace dime
