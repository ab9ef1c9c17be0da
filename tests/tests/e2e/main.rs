//! The end-to-end suite: the real server, started per test on a temporary data directory and
//! a free port, driven over real HTTP. One test binary, so the suite links once.

mod attacks;
mod authoring;
mod bad_input;
mod bulk_load;
mod connections;
mod console;
mod database_lost;
mod isolation;
mod lifecycle;
mod mail;
mod many_servers;
mod moving_data;
mod operators;
mod plugins;
mod policy_lifecycle;
mod reliability;
mod seeds;
mod seeds_tested;
mod sign_in;
mod stories;
mod trust_edges;
mod webhooks;
