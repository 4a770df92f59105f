/* plugin_bad.c — broken policy plugins for the start-up checks (tests/policies.cmake): built
 * three times with one of PLUGIN_NO_ENTRY, PLUGIN_WRONG_ABI, PLUGIN_NO_VICTIM defined. Each must
 * stop a DiME program before it starts, with one line naming the file. Never called. */
#include <stddef.h>

#include "dime_policy.h"

static void *bad_create(uint64_t max_pages) { return (void *)(max_pages + 1); }
static void bad_page(void *state, dime_page_t page) { (void)state, (void)page; }
#ifndef PLUGIN_NO_VICTIM
static dime_page_t bad_victim(void *state) { (void)state; return DIME_NO_PAGE; }
#endif

static const struct dime_policy bad_policy = {
#ifdef PLUGIN_WRONG_ABI
    .abi_version = 99,
#else
    .abi_version = DIME_POLICY_ABI_VERSION,
#endif
    .struct_size = sizeof(struct dime_policy),
    .name = "bad",
    .create = bad_create,
    .on_admit = bad_page,
    .on_forget = bad_page,
#ifndef PLUGIN_NO_VICTIM
    .pick_victim = bad_victim,
#endif
};

#ifdef PLUGIN_NO_ENTRY
/* Exports a differently named entry: a typo DiME must report. */
__attribute__((visibility("default"))) const struct dime_policy *dime_policy_plugin(void) { return &bad_policy; }
#else
const struct dime_policy *dime_policy_plugin_v1(void) { return &bad_policy; }
#endif
