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
    PutKey,
    GroupKeys(i64),
    WsNotify,
    WsChat(i64),
}

/// One segment of a route pattern.
#[derive(Clone, Copy)]
enum Seg {
    Lit(&'static str),
    /// A positive integer id.
    Id,
    /// One or more remaining segments.
    Rest,
}

use Seg::{Id, Lit, Rest};

type Build = fn(&[i64], &str) -> Route;

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
    ("GET", &[Lit("static"), Rest], |_, rest| {
        Route::Static(rest.to_string())
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
    ("PUT", &[Lit("api"), Lit("keys")], |_, _| Route::PutKey),
    (
        "GET",
        &[Lit("api"), Lit("groups"), Id, Lit("keys")],
        |p, _| Route::GroupKeys(p[0]),
    ),
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
        let Some((ids, rest)) = matches(pattern, segments) else {
            continue;
        };
        if *m == lookup {
            return Ok(build(&ids, &rest));
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

fn matches(pattern: &[Seg], segments: &[String]) -> Option<(Vec<i64>, String)> {
    let mut ids = Vec::new();
    for (i, seg) in pattern.iter().enumerate() {
        match seg {
            Lit(l) => {
                if segments.get(i)? != l {
                    return None;
                }
            }
            Id => ids.push(parse_id(segments.get(i)?)?),
            Rest => {
                let rest = segments.get(i..)?;
                if rest.is_empty() || rest.iter().any(|s| s.is_empty()) {
                    return None;
                }
                return Some((ids, rest.join("/")));
            }
        }
    }
    (segments.len() == pattern.len()).then_some((ids, String::new()))
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
