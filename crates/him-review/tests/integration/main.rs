//! Router tests of the review UI: `router(state).oneshot(request)` for every page and action.

#[macro_use]
mod support;
mod access;
mod browser;
mod queue;
mod review;
mod workflow;
