//! The behaviour suite: every case runs on the embedded backend and on the AWS backend
//! (DynamoDB Local), through the same router the servers and Lambda functions use. The AWS
//! cases and the slow tier are `#[ignore]`d, so a plain `cargo test` says what it left out;
//! scripts/test.sh runs them all (`--include-ignored`).

mod deployed;
mod flaky;
mod helpers;
mod invariants;

mod auth;
mod cli;
mod conditional_downloads;
mod contract;
mod credentials;
mod downloads;
mod emptied_folders;
mod events;
mod faults;
mod files;
mod folder_job_guards;
mod folder_jobs;
mod infra;
mod jobs;
mod limits;
mod log_secrets;
mod meta_store;
mod names;
mod object_count;
mod objects;
mod quota;
mod races;
mod round_trips;
mod seed_clients;
mod server;
mod sessions;
mod share_ends;
mod share_links;
mod share_passwords;
mod share_pins;
mod share_rate;
mod share_uploads;
mod share_zips;
mod shares;
mod shares_support;
mod slow_copies;
mod throttle;
mod transfers;
mod upload_speed_paths;
mod users;
mod web;
mod zip;
mod zip_jobs;
