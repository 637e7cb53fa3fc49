//! The storage-key layout: every object key the service reads or writes is built here.
//!
//! | key                               | what                                                  |
//! |-----------------------------------|-------------------------------------------------------|
//! | `users/<user id>/<path>`          | a file in a user's home                               |
//! | `users/<user id>/<path>/`         | a folder marker (an empty object keeps a folder)      |
//! | `staging/<user id>/<random>`      | a file of a form upload, until the whole form arrived |
//! | `archives/<user id>/<job id>.zip` | the archive a ZIP job wrote                           |
//! | `archives/shares/<share id>/<job id>.zip` | the archive a share link's visitor asked for  |
//! | `staging/claims/<key hash>`       | S3: a claim on one key while it is removed            |
//!
//! Keys are built only from a user's id, parsed [`UserPath`]s and ids this service generated;
//! none comes from a client. Objects under [`EXPIRING_ROOTS`] live a day: the bucket's lifecycle
//! rules (S3) and the local store's sweeper remove them.

use super::{User, UserPath};

/// Where every user's home is.
pub const HOMES_ROOT: &str = "users/";
/// Files of form uploads in progress.
pub const STAGING_ROOT: &str = "staging/";
/// Archives of ZIP jobs.
pub const ARCHIVES_ROOT: &str = "archives/";
/// Roots whose objects are removed a day after they were written.
pub const EXPIRING_ROOTS: [&str; 2] = [STAGING_ROOT, ARCHIVES_ROOT];

/// The keys of one user's home: every one of them starts with `users/<user id>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home(String);

impl Home {
    pub fn of(user_id: &str) -> Self {
        Self(format!("{HOMES_ROOT}{user_id}/"))
    }

    pub fn of_user(user: &User) -> Self {
        Self::of(user.id.as_str())
    }

    /// The prefix of every key of this home (`users/<user id>/`).
    pub fn prefix(&self) -> &str {
        &self.0
    }

    /// The home as users see it named (`dir_name`): `users/<user id>`, no trailing `/`.
    pub fn dir_name(&self) -> &str {
        self.0.strip_suffix('/').unwrap_or(&self.0)
    }

    /// The key of the file at `path`.
    pub fn file(&self, path: &UserPath) -> String {
        format!("{}{path}", self.0)
    }

    /// The prefix of everything in the folder at `path`, which is also the key of its marker
    /// (the home's own prefix for the home).
    pub fn folder(&self, path: &UserPath) -> String {
        if path.is_home() {
            self.0.clone()
        } else {
            format!("{}{path}/", self.0)
        }
    }

    /// The home-relative path of a key of this home, without a trailing `/`.
    pub fn relative<'a>(&self, key: &'a str) -> &'a str {
        key.strip_prefix(self.0.as_str())
            .unwrap_or(key)
            .trim_end_matches('/')
    }
}

/// A fresh key for one file of a form upload by this user.
pub fn new_staging_key(user_id: &str) -> String {
    format!("{STAGING_ROOT}{user_id}/{}", uuid::Uuid::new_v4().simple())
}

/// Where the S3 store records that one call is removing `key` (S3 has no conditional delete
/// that every deployment and emulator supports). Under the staging root, so a claim a crash
/// leaves behind expires like a staged file.
pub fn claim_key(key: &str) -> String {
    use sha2::{Digest, Sha256};
    format!(
        "{STAGING_ROOT}claims/{}",
        hex::encode(Sha256::digest(key.as_bytes()))
    )
}

/// The prefix of every archive of this user (`archives/<user id>/`).
pub fn archives_of(user_id: &str) -> String {
    format!("{ARCHIVES_ROOT}{user_id}/")
}

/// The key of the archive of a ZIP job.
pub fn archive_key(user_id: &str, job_id: &str) -> String {
    format!("{}{job_id}.zip", archives_of(user_id))
}

/// The prefix of every archive made through one share link (`archives/shares/<share id>/`).
/// Apart from the owner's: its key may appear in what the visitor gets (a local download
/// ticket, a presigned URL), and it names no user.
pub fn share_archives_of(share_id: &str) -> String {
    format!("{ARCHIVES_ROOT}shares/{share_id}/")
}

/// The key of a job's archive: its owner's ([`archive_key`]), or, for a job a share link's
/// visitor started, that link's ([`share_archives_of`]).
pub fn job_archive_key(user_id: &str, job_id: &str, share_id: Option<&str>) -> String {
    match share_id {
        Some(share) => format!("{}{job_id}.zip", share_archives_of(share)),
        None => archive_key(user_id, job_id),
    }
}

/// The name under which the local store keeps one part of a direct upload apart from the
/// others (`<upload id>#<part number>`).
pub fn upload_part(upload_id: &str, part_number: u32) -> String {
    format!("{}{part_number}", upload_parts(upload_id))
}

/// What every [`upload_part`] name of one upload starts with.
pub fn upload_parts(upload_id: &str) -> String {
    format!("{upload_id}#")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout is stored data: these strings must never change.
    #[test]
    fn keys_are_what_storage_holds() {
        let home = Home::of("u1");
        let path = UserPath::parse("docs/a.txt").unwrap();
        assert_eq!(home.prefix(), "users/u1/");
        assert_eq!(home.dir_name(), "users/u1");
        assert_eq!(home.file(&path), "users/u1/docs/a.txt");
        assert_eq!(home.folder(&path), "users/u1/docs/a.txt/");
        assert_eq!(home.folder(&UserPath::home()), "users/u1/");
        assert_eq!(home.relative("users/u1/docs/"), "docs");
        assert_eq!(archives_of("u1"), "archives/u1/");
        assert_eq!(archive_key("u1", "j"), "archives/u1/j.zip");
        assert_eq!(share_archives_of("s1"), "archives/shares/s1/");
        assert_eq!(job_archive_key("u1", "j", None), "archives/u1/j.zip");
        assert_eq!(
            job_archive_key("u1", "j", Some("s1")),
            "archives/shares/s1/j.zip"
        );
        assert_eq!(upload_part("x", 3), "x#3");
        assert!(upload_part("x", 3).starts_with(&upload_parts("x")));
        let staged = new_staging_key("u1");
        assert!(staged.starts_with("staging/u1/"), "{staged}");
        assert_eq!(staged.len(), "staging/u1/".len() + 32);
        assert_eq!(EXPIRING_ROOTS, ["staging/", "archives/"]);
        let claim = claim_key("users/u1/a.txt");
        assert!(claim.starts_with("staging/claims/"), "{claim}");
        assert_eq!(claim.len(), "staging/claims/".len() + 64);
    }
}
