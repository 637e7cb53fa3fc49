//! The behaviour suite: every case runs on the embedded backend and on the AWS backend
//! (DynamoDB Local), through the same router the servers and Lambda functions use.

mod deployed;
mod helpers;

mod auth;
mod cli;
mod contract;
mod events;
mod files;
mod infra;
mod objects;
mod seed_clients;
mod transfers;
mod users;
mod zip;
