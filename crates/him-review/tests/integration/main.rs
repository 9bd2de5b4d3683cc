//! Router tests of the review UI: `router(state).oneshot(request)` for every page and action.

mod access;
mod browser;
mod queue;
mod review;
mod support;
mod workflow;
