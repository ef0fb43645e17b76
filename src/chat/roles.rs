//! Who may do what in a group: the whole matrix of roles (owner, admin,
//! member) and moderation actions, in one table, so that every route asks
//! the same question and the UI can offer exactly what is allowed.

use crate::store::Role;

/// What a member may try to do to a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupAction {
    Rename,
    AddMember,
    /// Remove a member whose role is the given one (not oneself: that is
    /// leaving).
    Remove(Role),
    /// Make a member an admin or a plain member again.
    SetRole,
    TransferOwnership,
    DeleteGroup,
    /// Delete someone else's message.
    DeleteAnyMessage,
    /// Create, list and revoke invite links.
    ManageInvites,
}

/// Whether a member with role `actor` may do `action`.
pub fn allowed(actor: Role, action: GroupAction) -> bool {
    use GroupAction::*;
    match action {
        Rename | AddMember | DeleteAnyMessage | ManageInvites => actor >= Role::Admin,
        Remove(target) => match actor {
            Role::Owner => target != Role::Owner,
            Role::Admin => target == Role::Member,
            Role::Member => false,
        },
        SetRole | TransferOwnership | DeleteGroup => actor == Role::Owner,
    }
}

/// Why an action was refused, for people.
pub fn refusal_text(action: GroupAction) -> &'static str {
    use GroupAction::*;
    match action {
        Rename => "Only the group's owner and admins can rename it.",
        AddMember => "Only the group's owner and admins can add members.",
        Remove(Role::Member) => "Only the group's owner and admins can remove members.",
        Remove(_) => "Only the group's owner can remove an admin.",
        SetRole => "Only the group's owner can change roles.",
        TransferOwnership => "Only the group's owner can hand the group on.",
        DeleteGroup => "Only the group's owner can delete it.",
        DeleteAnyMessage => {
            "Only the author, the group's owner and its admins can delete a message."
        }
        ManageInvites => "Only the group's owner and admins can manage invite links.",
    }
}

#[cfg(test)]
mod tests {
    use super::GroupAction::*;
    use super::*;

    #[test]
    fn the_whole_matrix() {
        use Role::{Admin, Member, Owner};
        let table: &[(GroupAction, [bool; 3])] = &[
            //                       owner  admin  member
            (Rename, [true, true, false]),
            (AddMember, [true, true, false]),
            (Remove(Member), [true, true, false]),
            (Remove(Admin), [true, false, false]),
            (Remove(Owner), [false, false, false]),
            (SetRole, [true, false, false]),
            (TransferOwnership, [true, false, false]),
            (DeleteGroup, [true, false, false]),
            (DeleteAnyMessage, [true, true, false]),
            (ManageInvites, [true, true, false]),
        ];
        for (action, expected) in table {
            for (role, want) in [Owner, Admin, Member].into_iter().zip(expected) {
                assert_eq!(allowed(role, *action), *want, "{role:?} {action:?}");
            }
        }
    }
}
