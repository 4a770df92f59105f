// uffd_settle.h — finishing a UFFDIO_MOVE that failed or fell short, from what the page tables say.
//
// A failed UFFDIO_MOVE reports how many bytes it moved, and the handler used to trust that count.
// On kernel 6.18 it was seen to move a page and still fail with EEXIST, reporting nothing moved
// (docs/architecture.md, "When UFFDIO_MOVE miscounts"): the page was in the backing span while
// its state said local, and the handler's next step (drop the "stale" backing copy, move again)
// destroyed it. So after any failed move the handler no longer reasons from the count: it looks
// at both sides with mincore() and finishes (or undoes) the move base page by base page.
// Handler thread only; no allocation, no lock, no logging.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dime::uffd {

enum class Settled : uint8_t {
    kMoved,   // the unit is at dst now (its holes, if any, stay holes)
    kHole,    // neither side held any of it: the program dropped the unit
    kStayed,  // some base page could not be moved: the unit is whole at src again
};

struct SettleMode {
    // Where both sides hold a base page, the copy at src is the data (the one at dst is stale);
    // otherwise the one at dst is.
    bool src_wins = true;
    // The program may be writing src (the application span): a base page that refuses to move
    // must not be copied (a write between copy and drop would be lost), so the unit stays whole
    // at src. Else a refused base page is copied and its source dropped.
    bool src_live = true;
};

// Settles the unit [src, src + len) -> [dst, dst + len), len at most 2 MiB. `uncounted` (if given)
// receives how many base pages were found at dst already, with src empty: moved by a call that
// did not count them (or by an earlier one).
Settled settle_move(int fd, uintptr_t dst, uintptr_t src, size_t len, SettleMode mode, size_t* uncounted = nullptr);

}  // namespace dime::uffd
