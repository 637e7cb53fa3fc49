//! Who may administer whom: the role rules, in one place.
//!
//! - superuser: everything, including managers and other superusers;
//! - manager: sees every user; creates, changes, resets and deletes users of role `user` only,
//!   and grants no role above `user`;
//! - user: nothing here.
//!
//! The last active superuser rule needs the store, so it lives with the service; everything
//! that depends on roles alone is here.

use crate::domain::Role;
use crate::error::{AppError, AppResult};

/// What an administrator asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// List users, or read one.
    View,
    /// Create a user with this role.
    Create(Role),
    /// Change a user of role `target`; `grant` is the new role, if the change sets one.
    Change { target: Role, grant: Option<Role> },
    /// Delete, or reset the password of, a user of this role.
    Manage(Role),
}

fn may_manage(actor: Role, target: Role) -> bool {
    match actor {
        Role::Superuser => true,
        Role::Manager => target == Role::User,
        Role::User => false,
    }
}

/// True when `actor` may do `act`.
pub fn allows(actor: Role, act: Act) -> bool {
    match act {
        Act::View => actor.is_staff(),
        Act::Create(role) => may_manage(actor, role),
        Act::Change { target, grant } => {
            may_manage(actor, target) && grant.is_none_or(|r| may_manage(actor, r))
        }
        Act::Manage(target) => may_manage(actor, target),
    }
}

/// `Ok` when `actor` may do `act`, else 403.
pub fn require(actor: Role, act: Act) -> AppResult<()> {
    if allows(actor, act) {
        return Ok(());
    }
    Err(if actor.is_staff() {
        AppError::forbidden(
            "permission_denied",
            "Managers can only manage users of role 'user' and grant no higher role.",
        )
    } else {
        AppError::forbidden(
            "permission_denied",
            "Only managers and superusers can administer users.",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Role::{Manager as M, Superuser as S, User as U};

    /// Every actor × every act × every role, against the rules listed at the top.
    #[test]
    fn the_role_table() {
        let roles = [U, M, S];
        for actor in roles {
            assert_eq!(allows(actor, Act::View), actor != U, "{actor:?} view");
            for role in roles {
                let expected = match actor {
                    S => true,
                    M => role == U,
                    U => false,
                };
                assert_eq!(
                    allows(actor, Act::Create(role)),
                    expected,
                    "{actor:?} create {role:?}"
                );
                assert_eq!(
                    allows(actor, Act::Manage(role)),
                    expected,
                    "{actor:?} manage {role:?}"
                );
                let plain = Act::Change {
                    target: role,
                    grant: None,
                };
                assert_eq!(allows(actor, plain), expected, "{actor:?} change {role:?}");
                for grant in roles {
                    let act = Act::Change {
                        target: role,
                        grant: Some(grant),
                    };
                    let expected = match actor {
                        S => true,
                        M => role == U && grant == U,
                        U => false,
                    };
                    assert_eq!(
                        allows(actor, act),
                        expected,
                        "{actor:?} change {role:?} to {grant:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn refusals_are_403() {
        let err = require(U, Act::View).unwrap_err();
        assert_eq!(err.status(), http::StatusCode::FORBIDDEN);
        let err = require(M, Act::Create(S)).unwrap_err();
        assert_eq!(err.status(), http::StatusCode::FORBIDDEN);
    }
}
