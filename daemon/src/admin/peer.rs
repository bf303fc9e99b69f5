//! Who may use the admin socket: the daemon's own uid, root, and members of the
//! configured group, by the peer credentials (SO_PEERCRED) of each connection.

use nix::unistd::{Gid, Group, Uid, User};

/// The access rule, resolved at start-up.
#[derive(Debug, Clone)]
pub struct Access {
    own_uid: u32,
    group: Option<Group>,
}

impl Access {
    /// The rule for this process, with `group` (by name) if configured.
    pub fn new(group: Option<&str>) -> Result<Self, String> {
        let group = match group {
            None => None,
            Some(name) => Some(
                Group::from_name(name)
                    .map_err(|e| format!("admin.group: cannot look up group {name:?}: {e}"))?
                    .ok_or_else(|| format!("admin.group: no group named {name:?}"))?,
            ),
        };
        Ok(Self {
            own_uid: nix::unistd::geteuid().as_raw(),
            group,
        })
    }

    /// The group's id, when one is configured (the socket file gets it).
    pub fn gid(&self) -> Option<u32> {
        self.group.as_ref().map(|g| g.gid.as_raw())
    }

    /// True when a peer with `uid` (primary group `gid`) may connect. Group
    /// membership is looked up (NSS may read files or ask the network) on a blocking
    /// thread, never on the async ones.
    pub async fn allows(&self, uid: u32, gid: u32) -> bool {
        if uid == 0 || uid == self.own_uid {
            return true;
        }
        let Some(group) = self.group.clone() else { return false };
        if Gid::from_raw(gid) == group.gid {
            return true;
        }
        tokio::task::spawn_blocking(move || is_member(&group, uid))
            .await
            .unwrap_or(false)
    }
}

/// Whether `uid` belongs to `group` as /etc/group (or NSS) lists it now: as its
/// primary group or a supplementary one.
fn is_member(group: &Group, uid: u32) -> bool {
    let current = Group::from_gid(group.gid).ok().flatten();
    let members = current.as_ref().map_or(&group.mem, |g| &g.mem);
    match User::from_uid(Uid::from_raw(uid)) {
        Ok(Some(user)) => user.gid == group.gid || members.contains(&user.name),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn own_uid_and_root_are_allowed_others_not() {
        let access = Access::new(None).unwrap();
        let me = nix::unistd::geteuid().as_raw();
        assert!(access.allows(me, 12345).await);
        assert!(access.allows(0, 0).await);
        assert!(!access.allows(me.wrapping_add(4242), 4242).await);
    }

    #[test]
    fn an_unknown_group_is_a_clear_error() {
        let err = Access::new(Some("no-such-group-tessera")).unwrap_err();
        assert!(err.starts_with("admin.group:"), "{err}");
    }

    #[tokio::test]
    async fn a_configured_group_admits_its_gid() {
        let root = Group::from_gid(Gid::from_raw(0)).unwrap().unwrap();
        let access = Access::new(Some(&root.name)).unwrap();
        assert_eq!(access.gid(), Some(0));
        assert!(access.allows(4242, 0).await);
        // Not root's primary group, nor listed as a member: looked up, refused.
        assert!(!access.allows(4242, 4242).await);
    }
}
