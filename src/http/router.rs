//! The hand-written router: method plus path segments, with typed id
//! parameters. A path that exists under another method is a `405` with
//! `Allow`; anything else is a `404`.

/// Every route the server answers, with its parsed parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Root,
    RegisterForm,
    Register,
    LoginForm,
    Login,
    Logout,
    Chat,
    Account,
    ChangePassword,
    Healthz,
    Metrics,
    /// An asset under `/static/`, by its path below that folder.
    Static(String),
    /// `POST /api/groups/{id}/files`: an upload (its body is streamed).
    Upload(i64),
    /// `GET /files/{id}/{name}` (the name is for people and downloads).
    File(i64),
    /// `/sw.js` and `/manifest.webmanifest`: the installable web app's
    /// service worker and manifest, served from the root so that the
    /// worker's scope is the whole site (assets `sw.js`,
    /// `manifest.webmanifest`).
    AppShell(&'static str),
    Me,
    Groups,
    CreateGroup,
    JoinGroup(i64),
    LeaveGroup(i64),
    Messages(i64),
    Online,
    GroupOnline(i64),
    OpenDm,
    Dms,
    EditMessage(i64),
    DeleteMessage(i64),
    /// A reaction (the emoji, decoded) on a message: `PUT` adds, `DELETE`
    /// takes back.
    React(i64, String),
    Unreact(i64, String),
    MarkRead(i64),
    Search,
    PutKey,
    /// `GET /api/keys`: your devices.
    Devices,
    /// `DELETE /api/keys/{fingerprint}`.
    RemoveDevice(String),
    GroupKeys(i64),
    GroupMembers(i64),
    AddMember(i64),
    RemoveMember(i64, String),
    SetRole(i64, String),
    RenameGroup(i64),
    DeleteGroup(i64),
    CreateInvite(i64),
    Invites(i64),
    RevokeInvite(i64, String),
    AcceptInvite(String),
    InvitePage(String),
    JoinByInvite(String),
    AdminPage,
    AdminUser(String, AdminOp),
    CreateServerInvite,
    ServerInvites,
    RevokeServerInvite(String),
    SetRegistration,
    ResetForm(String),
    Reset(String),
    WsNotify,
    WsChat(i64),
}

/// What a server admin does to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminOp {
    Disable,
    Enable,
    Promote,
    Demote,
    ResetLink,
}

/// One segment of a route pattern.
#[derive(Clone, Copy)]
enum Seg {
    Lit(&'static str),
    /// A positive integer id.
    Id,
    /// One segment, as a string (a username, a code).
    Name,
    /// One or more remaining segments, joined with `/`.
    Rest,
}

use Seg::{Id, Lit, Name, Rest};

/// Builds a route from its ids and its strings (`Name`s and `Rest`, in
/// order).
type Build = fn(&[i64], &[String]) -> Route;

fn s(strings: &[String], i: usize) -> String {
    strings.get(i).cloned().unwrap_or_default()
}

const ROUTES: &[(&str, &[Seg], Build)] = &[
    ("GET", &[], |_, _| Route::Root),
    ("GET", &[Lit("register")], |_, _| Route::RegisterForm),
    ("POST", &[Lit("register")], |_, _| Route::Register),
    ("GET", &[Lit("login")], |_, _| Route::LoginForm),
    ("POST", &[Lit("login")], |_, _| Route::Login),
    ("POST", &[Lit("logout")], |_, _| Route::Logout),
    ("GET", &[Lit("chat")], |_, _| Route::Chat),
    ("GET", &[Lit("account")], |_, _| Route::Account),
    ("POST", &[Lit("account"), Lit("password")], |_, _| {
        Route::ChangePassword
    }),
    ("GET", &[Lit("healthz")], |_, _| Route::Healthz),
    ("GET", &[Lit("metrics")], |_, _| Route::Metrics),
    ("GET", &[Lit("static"), Rest], |_, r| Route::Static(s(r, 0))),
    ("GET", &[Lit("sw.js")], |_, _| Route::AppShell("sw.js")),
    ("GET", &[Lit("manifest.webmanifest")], |_, _| {
        Route::AppShell("manifest.webmanifest")
    }),
    ("GET", &[Lit("api"), Lit("me")], |_, _| Route::Me),
    ("GET", &[Lit("api"), Lit("groups")], |_, _| Route::Groups),
    ("POST", &[Lit("api"), Lit("groups")], |_, _| {
        Route::CreateGroup
    }),
    (
        "POST",
        &[Lit("api"), Lit("groups"), Id, Lit("join")],
        |p, _| Route::JoinGroup(p[0]),
    ),
    (
        "POST",
        &[Lit("api"), Lit("groups"), Id, Lit("leave")],
        |p, _| Route::LeaveGroup(p[0]),
    ),
    (
        "GET",
        &[Lit("api"), Lit("groups"), Id, Lit("messages")],
        |p, _| Route::Messages(p[0]),
    ),
    ("GET", &[Lit("api"), Lit("online")], |_, _| Route::Online),
    (
        "GET",
        &[Lit("api"), Lit("groups"), Id, Lit("online")],
        |p, _| Route::GroupOnline(p[0]),
    ),
    ("POST", &[Lit("api"), Lit("dm")], |_, _| Route::OpenDm),
    ("GET", &[Lit("api"), Lit("dms")], |_, _| Route::Dms),
    ("PATCH", &[Lit("api"), Lit("messages"), Id], |p, _| {
        Route::EditMessage(p[0])
    }),
    ("DELETE", &[Lit("api"), Lit("messages"), Id], |p, _| {
        Route::DeleteMessage(p[0])
    }),
    (
        "PUT",
        &[Lit("api"), Lit("messages"), Id, Lit("reactions"), Name],
        |p, r| Route::React(p[0], s(r, 0)),
    ),
    (
        "DELETE",
        &[Lit("api"), Lit("messages"), Id, Lit("reactions"), Name],
        |p, r| Route::Unreact(p[0], s(r, 0)),
    ),
    (
        "PUT",
        &[Lit("api"), Lit("groups"), Id, Lit("read")],
        |p, _| Route::MarkRead(p[0]),
    ),
    ("GET", &[Lit("api"), Lit("search")], |_, _| Route::Search),
    (
        "POST",
        &[Lit("api"), Lit("groups"), Id, Lit("files")],
        |p, _| Route::Upload(p[0]),
    ),
    ("GET", &[Lit("files"), Id, Name], |p, _| Route::File(p[0])),
    ("PUT", &[Lit("api"), Lit("keys")], |_, _| Route::PutKey),
    ("GET", &[Lit("api"), Lit("keys")], |_, _| Route::Devices),
    ("DELETE", &[Lit("api"), Lit("keys"), Name], |_, r| {
        Route::RemoveDevice(s(r, 0))
    }),
    (
        "GET",
        &[Lit("api"), Lit("groups"), Id, Lit("keys")],
        |p, _| Route::GroupKeys(p[0]),
    ),
    (
        "GET",
        &[Lit("api"), Lit("groups"), Id, Lit("members")],
        |p, _| Route::GroupMembers(p[0]),
    ),
    (
        "POST",
        &[Lit("api"), Lit("groups"), Id, Lit("members")],
        |p, _| Route::AddMember(p[0]),
    ),
    (
        "DELETE",
        &[Lit("api"), Lit("groups"), Id, Lit("members"), Name],
        |p, r| Route::RemoveMember(p[0], s(r, 0)),
    ),
    (
        "PATCH",
        &[Lit("api"), Lit("groups"), Id, Lit("members"), Name],
        |p, r| Route::SetRole(p[0], s(r, 0)),
    ),
    ("PATCH", &[Lit("api"), Lit("groups"), Id], |p, _| {
        Route::RenameGroup(p[0])
    }),
    ("DELETE", &[Lit("api"), Lit("groups"), Id], |p, _| {
        Route::DeleteGroup(p[0])
    }),
    (
        "POST",
        &[Lit("api"), Lit("groups"), Id, Lit("invites")],
        |p, _| Route::CreateInvite(p[0]),
    ),
    (
        "GET",
        &[Lit("api"), Lit("groups"), Id, Lit("invites")],
        |p, _| Route::Invites(p[0]),
    ),
    (
        "DELETE",
        &[Lit("api"), Lit("groups"), Id, Lit("invites"), Name],
        |p, r| Route::RevokeInvite(p[0], s(r, 0)),
    ),
    ("POST", &[Lit("api"), Lit("invites"), Name], |_, r| {
        Route::AcceptInvite(s(r, 0))
    }),
    ("GET", &[Lit("invite"), Name], |_, r| {
        Route::InvitePage(s(r, 0))
    }),
    ("POST", &[Lit("invite"), Name], |_, r| {
        Route::JoinByInvite(s(r, 0))
    }),
    ("GET", &[Lit("admin")], |_, _| Route::AdminPage),
    (
        "POST",
        &[Lit("api"), Lit("admin"), Lit("users"), Name, Lit("disable")],
        |_, r| Route::AdminUser(s(r, 0), AdminOp::Disable),
    ),
    (
        "POST",
        &[Lit("api"), Lit("admin"), Lit("users"), Name, Lit("enable")],
        |_, r| Route::AdminUser(s(r, 0), AdminOp::Enable),
    ),
    (
        "POST",
        &[Lit("api"), Lit("admin"), Lit("users"), Name, Lit("promote")],
        |_, r| Route::AdminUser(s(r, 0), AdminOp::Promote),
    ),
    (
        "POST",
        &[Lit("api"), Lit("admin"), Lit("users"), Name, Lit("demote")],
        |_, r| Route::AdminUser(s(r, 0), AdminOp::Demote),
    ),
    (
        "POST",
        &[
            Lit("api"),
            Lit("admin"),
            Lit("users"),
            Name,
            Lit("reset-link"),
        ],
        |_, r| Route::AdminUser(s(r, 0), AdminOp::ResetLink),
    ),
    (
        "POST",
        &[Lit("api"), Lit("admin"), Lit("invites")],
        |_, _| Route::CreateServerInvite,
    ),
    (
        "GET",
        &[Lit("api"), Lit("admin"), Lit("invites")],
        |_, _| Route::ServerInvites,
    ),
    (
        "DELETE",
        &[Lit("api"), Lit("admin"), Lit("invites"), Name],
        |_, r| Route::RevokeServerInvite(s(r, 0)),
    ),
    (
        "PUT",
        &[Lit("api"), Lit("admin"), Lit("registration")],
        |_, _| Route::SetRegistration,
    ),
    ("GET", &[Lit("reset"), Name], |_, r| {
        Route::ResetForm(s(r, 0))
    }),
    ("POST", &[Lit("reset"), Name], |_, r| Route::Reset(s(r, 0))),
    ("GET", &[Lit("ws")], |_, _| Route::WsNotify),
    ("GET", &[Lit("ws"), Lit("chat"), Id], |p, _| {
        Route::WsChat(p[0])
    }),
];

/// Why a request matched no route.
#[derive(Debug, PartialEq, Eq)]
pub enum NoRoute {
    NotFound,
    /// The path exists; these methods are allowed on it.
    MethodNotAllowed(Vec<&'static str>),
}

/// Finds the route for `method` and decoded path `segments`. `HEAD` matches
/// `GET` routes.
pub fn route(method: &str, segments: &[String]) -> Result<Route, NoRoute> {
    let lookup = if method == "HEAD" { "GET" } else { method };
    let mut allowed: Vec<&'static str> = Vec::new();
    for (m, pattern, build) in ROUTES {
        let Some((ids, strings)) = matches(pattern, segments) else {
            continue;
        };
        if *m == lookup {
            return Ok(build(&ids, &strings));
        }
        allowed.push(m);
        if *m == "GET" {
            allowed.push("HEAD");
        }
    }
    if allowed.is_empty() {
        Err(NoRoute::NotFound)
    } else {
        Err(NoRoute::MethodNotAllowed(allowed))
    }
}

fn matches(pattern: &[Seg], segments: &[String]) -> Option<(Vec<i64>, Vec<String>)> {
    let (mut ids, mut strings) = (Vec::new(), Vec::new());
    for (i, seg) in pattern.iter().enumerate() {
        match seg {
            Lit(l) => {
                if segments.get(i)? != l {
                    return None;
                }
            }
            Id => ids.push(parse_id(segments.get(i)?)?),
            Name => {
                let name = segments.get(i).filter(|s| !s.is_empty())?;
                strings.push(name.clone());
            }
            Rest => {
                let rest = segments.get(i..)?;
                if rest.is_empty() || rest.iter().any(|s| s.is_empty()) {
                    return None;
                }
                strings.push(rest.join("/"));
                return Some((ids, strings));
            }
        }
    }
    (segments.len() == pattern.len()).then_some((ids, strings))
}

/// A positive decimal id without sign or leading zeros, within `i64`.
pub fn parse_id(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 18 || s.starts_with('0') || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(p: &str) -> Vec<String> {
        crate::http::request::decode_path(p).unwrap()
    }

    #[test]
    fn routes_with_typed_ids() {
        assert_eq!(route("GET", &segs("/")), Ok(Route::Root));
        assert_eq!(route("HEAD", &segs("/login")), Ok(Route::LoginForm));
        assert_eq!(
            route("POST", &segs("/api/groups/42/join")),
            Ok(Route::JoinGroup(42))
        );
        assert_eq!(route("GET", &segs("/ws/chat/7")), Ok(Route::WsChat(7)));
        assert_eq!(
            route("DELETE", &segs("/api/messages/9")),
            Ok(Route::DeleteMessage(9))
        );
        assert_eq!(
            route("GET", &segs("/static/js/app.js")),
            Ok(Route::Static("js/app.js".into()))
        );
        assert_eq!(
            route("DELETE", &segs("/api/groups/3/members/bob")),
            Ok(Route::RemoveMember(3, "bob".into()))
        );
        assert_eq!(
            route("POST", &segs("/api/groups/4/files")),
            Ok(Route::Upload(4))
        );
        assert_eq!(
            route("HEAD", &segs("/files/8/a%20b.png")),
            Ok(Route::File(8))
        );
        assert_eq!(
            route("POST", &segs("/api/admin/users/b%20b/reset-link")),
            Ok(Route::AdminUser("b b".into(), AdminOp::ResetLink))
        );
        assert_eq!(
            route("GET", &segs("/invite/abc")),
            Ok(Route::InvitePage("abc".into()))
        );
        assert_eq!(
            route("PATCH", &segs("/api/groups/3")),
            Ok(Route::RenameGroup(3))
        );
    }

    #[test]
    fn not_found_and_not_allowed() {
        assert_eq!(route("GET", &segs("/nope")), Err(NoRoute::NotFound));
        assert_eq!(
            route("GET", &segs("/api/groups/0/join")),
            Err(NoRoute::NotFound)
        );
        assert_eq!(
            route("GET", &segs("/api/groups/-1/messages")),
            Err(NoRoute::NotFound)
        );
        assert_eq!(
            route("GET", &segs("/api/groups/007/messages")),
            Err(NoRoute::NotFound)
        );
        assert_eq!(
            route("GET", &segs("/api/groups/99999999999999999999/messages")),
            Err(NoRoute::NotFound)
        );
        assert_eq!(route("GET", &segs("/static")), Err(NoRoute::NotFound));
        assert_eq!(route("GET", &segs("/login/extra")), Err(NoRoute::NotFound));
        assert_eq!(
            route("DELETE", &segs("/login")),
            Err(NoRoute::MethodNotAllowed(vec!["GET", "HEAD", "POST"]))
        );
        assert_eq!(
            route("GET", &segs("/api/messages/3")),
            Err(NoRoute::MethodNotAllowed(vec!["PATCH", "DELETE"]))
        );
    }
}
