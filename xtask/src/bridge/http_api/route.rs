//! The HTTP API's routing, as API Gateway does it: a request takes the most specific of the
//! routes its method and path match, else the `$default` route if there is one, else none
//! (API Gateway's own 404).

use std::time::Duration;

/// One route of the HTTP API: its key, and the function (with its `Timeout`) behind it.
#[derive(Debug, Clone)]
pub struct Route {
    pub key: String,
    pub function: String,
    pub timeout: Duration,
}

impl Route {
    /// The path parameters, if a request of `method` to `path` takes this route. A route's
    /// path matches segment by segment: a literal itself, `{name}` any one segment,
    /// `{name+}` (last) the rest of the path. `/users/` is not `/users`: HTTP APIs do not
    /// fold a trailing slash (storacha/w3infra#166 met it).
    fn matches(&self, method: &str, path: &str) -> Option<Vec<(String, String)>> {
        let (route_method, route_path) = self.key.split_once(' ')?;
        if route_method != "ANY" && route_method != method {
            return None;
        }
        let mut parameters = Vec::new();
        let mut segments = path.strip_prefix('/')?.split('/');
        let route_segments: Vec<&str> = route_path.trim_start_matches('/').split('/').collect();
        for (i, expected) in route_segments.iter().enumerate() {
            let name = expected.strip_prefix('{').and_then(|s| s.strip_suffix('}'));
            match name {
                Some(greedy) if greedy.ends_with('+') && i + 1 == route_segments.len() => {
                    let rest: Vec<&str> = segments.by_ref().collect();
                    if rest.iter().all(|s| s.is_empty()) {
                        return None;
                    }
                    parameters.push((greedy.trim_end_matches('+').to_owned(), rest.join("/")));
                }
                Some(name) => match segments.next() {
                    Some(segment) if !segment.is_empty() => parameters.push((name.to_owned(), segment.to_owned())),
                    _ => return None,
                },
                None if segments.next() == Some(*expected) => {}
                None => return None,
            }
        }
        segments.next().is_none().then_some(parameters)
    }

    /// How specific the route is, as API Gateway ranks the routes a request matches: any
    /// route over `$default`, a full match over a greedy one, more literal segments, a method
    /// over `ANY`.
    fn rank(&self) -> (bool, bool, usize, bool) {
        let Some((method, path)) = self.key.split_once(' ') else {
            return (false, false, 0, false);
        };
        let literals = path.split('/').filter(|s| !s.is_empty() && !s.starts_with('{')).count();
        (true, !path.contains("+}"), literals, method != "ANY")
    }
}

/// The route a request takes, and its path parameters: the most specific of those it matches
/// (`$default` if it matches none), or none.
pub fn route<'r>(routes: &'r [Route], method: &str, path: &str) -> Option<(&'r Route, Vec<(String, String)>)> {
    let matched = routes
        .iter()
        .filter_map(|r| r.matches(method, path).map(|parameters| (r, parameters)))
        .max_by_key(|(r, _)| r.rank());
    matched.or_else(|| routes.iter().find(|r| r.key == "$default").map(|r| (r, Vec::new())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(keys: &[&str]) -> Vec<Route> {
        keys.iter()
            .map(|key| Route {
                key: (*key).to_owned(),
                function: (*key).to_owned(),
                timeout: Duration::from_secs(1),
            })
            .collect()
    }

    fn key(routes: &[Route], method: &str, path: &str) -> Option<(String, Vec<(String, String)>)> {
        route(routes, method, path).map(|(r, p)| (r.key.clone(), p))
    }

    #[test]
    fn a_request_takes_its_most_specific_route() {
        let table = routes(&["POST /users", "GET /users/{id}", "ANY /users/{id}", "ANY /{proxy+}"]);
        let none = Vec::new;
        assert_eq!(key(&table, "POST", "/users"), Some(("POST /users".into(), none())));
        assert_eq!(
            key(&table, "GET", "/users/a%20b"),
            Some(("GET /users/{id}".into(), vec![("id".into(), "a%20b".into())]))
        );
        assert_eq!(key(&table, "PUT", "/users/1").unwrap().0, "ANY /users/{id}");
        assert_eq!(
            key(&table, "GET", "/users"),
            Some(("ANY /{proxy+}".into(), vec![("proxy".into(), "users".into())]))
        );
        assert_eq!(
            key(&table, "GET", "/a/b").unwrap().1,
            vec![("proxy".into(), "a/b".into())]
        );
        assert_eq!(
            key(&table, "GET", "/"),
            None,
            "a greedy variable takes one segment or more"
        );
        let exact = routes(&["POST /users", "GET /users/verify"]);
        for (method, path) in [
            ("GET", "/users"),
            ("POST", "/users/"),
            ("POST", "/Users"),
            ("GET", "/users/verify/x"),
        ] {
            assert_eq!(key(&exact, method, path), None, "{method} {path}");
        }
        let with_default = routes(&["POST /users", "$default"]);
        assert_eq!(key(&with_default, "GET", "/x").unwrap().0, "$default");
    }
}
