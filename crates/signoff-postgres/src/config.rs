//! The connection URL: TLS settings (`sslmode`, `sslrootcert`) read by this
//! crate, everything else handed to `tokio-postgres`.

use std::net::IpAddr;
use std::path::PathBuf;

use tokio_postgres::config::{Host, SslMode};

/// How a connection protects itself, decided from the URL's `sslmode`,
/// `sslrootcert` and host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tls {
    /// Plain TCP (`sslmode=disable`).
    Disable,
    /// TLS when the server offers it, plain otherwise, certificate not
    /// checked: only for local hosts (libpq's `prefer`).
    Prefer,
    /// TLS, certificate not checked: stops passive eavesdropping only.
    Require,
    /// TLS, certificate chain checked against `roots`, host name not checked.
    VerifyCa(Roots),
    /// TLS, certificate chain and host name checked.
    VerifyFull(Roots),
}

/// The certificates a server's chain must lead to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Roots {
    /// A PEM file of CA certificates (`sslrootcert=PATH`).
    File(PathBuf),
    /// The Mozilla root programme, built in (`sslrootcert=system`, or none given).
    Builtin,
}

/// A parsed connection URL.
#[derive(Debug)]
pub(crate) struct Target {
    /// What `tokio-postgres` connects with; its `ssl_mode` is set from `tls`.
    pub(crate) pg: tokio_postgres::Config,
    pub(crate) tls: Tls,
    /// `postgres://user@host:port/db`, never a password, for messages.
    pub(crate) name: String,
}

/// The `sslmode` values, as written in the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Requested {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl Requested {
    fn parse(value: &str) -> Result<Self, String> {
        Ok(match value {
            "disable" => Requested::Disable,
            "allow" => Requested::Allow,
            "prefer" => Requested::Prefer,
            "require" => Requested::Require,
            "verify-ca" => Requested::VerifyCa,
            "verify-full" => Requested::VerifyFull,
            other => {
                return Err(format!(
                    "unknown `sslmode` `{other}` (expected `disable`, `allow`, `prefer`, `require`, `verify-ca` or `verify-full`)"
                ));
            }
        })
    }
}

/// Parses a connection URL, in URL (`postgres://...?sslmode=...`) or
/// key=value (`host=... sslmode=...`) form. Errors never quote the URL, so
/// they never carry its password.
pub(crate) fn parse(url: &str) -> Result<Target, String> {
    let (mut pg, ssl) = split(url)?;
    let name = describe(&pg);
    let requested = ssl.mode.as_deref().map(Requested::parse).transpose()?;
    let tls = decide(requested, ssl.rootcert.as_deref(), is_local(&pg))?;
    pg.ssl_mode(match tls {
        Tls::Disable => SslMode::Disable,
        Tls::Prefer => SslMode::Prefer,
        Tls::Require | Tls::VerifyCa(_) | Tls::VerifyFull(_) => SslMode::Require,
    });
    Ok(Target { pg, tls, name })
}

/// `postgres://user@host:port/db`, without a password, even for a URL
/// whose TLS settings are wrong; `None` if the rest does not parse.
pub(crate) fn display_name(url: &str) -> Option<String> {
    split(url).ok().map(|(pg, _)| describe(&pg))
}

/// The URL parsed by tokio-postgres, and the TLS parameters it does not know.
fn split(url: &str) -> Result<(tokio_postgres::Config, TlsParams), String> {
    let (rest, ssl) = take_tls_params(url)?;
    let pg = rest.parse().map_err(|e: tokio_postgres::Error| {
        // the cause names the offending option, never its value
        let cause = std::error::Error::source(&e).map(ToString::to_string);
        format!("{e}{}", cause.map(|c| format!(": {c}")).unwrap_or_default())
    })?;
    Ok((pg, ssl))
}

/// The TLS mode for what was asked, where it connects, and the CA file.
fn decide(
    requested: Option<Requested>,
    rootcert: Option<&str>,
    local: bool,
) -> Result<Tls, String> {
    let roots = match rootcert {
        None | Some("") => None,
        Some("system") => Some(Roots::Builtin),
        Some(path) => Some(Roots::File(PathBuf::from(path))),
    };
    if roots == Some(Roots::Builtin)
        && !matches!(requested, None | Some(Requested::VerifyFull))
        && requested != Some(Requested::Disable)
    {
        // as libpq: the public roots vouch for names, so only the name check makes sense
        return Err("`sslrootcert=system` needs `sslmode=verify-full`".to_owned());
    }
    Ok(match (requested, roots) {
        (Some(Requested::Disable), _) => Tls::Disable,
        (Some(Requested::VerifyCa), roots) => Tls::VerifyCa(roots.unwrap_or(Roots::Builtin)),
        (Some(Requested::VerifyFull), roots) => Tls::VerifyFull(roots.unwrap_or(Roots::Builtin)),
        // never downgrade silently on the network: a missing or weak mode
        // means verify-full for any host that is not this machine
        (None | Some(Requested::Allow | Requested::Prefer), roots) if !local => {
            Tls::VerifyFull(roots.unwrap_or(Roots::Builtin))
        }
        (None, Some(Roots::Builtin)) => Tls::VerifyFull(Roots::Builtin),
        // as libpq: with a CA file given, every TLS connection checks the chain
        (None | Some(Requested::Allow | Requested::Prefer | Requested::Require), Some(roots)) => {
            Tls::VerifyCa(roots)
        }
        (None | Some(Requested::Allow | Requested::Prefer), None) => Tls::Prefer,
        (Some(Requested::Require), None) => Tls::Require,
    })
}

/// True when every host (and `hostaddr`) is this machine: a loopback
/// address, `localhost`, or a Unix socket.
fn is_local(pg: &tokio_postgres::Config) -> bool {
    let host_local = |h: &Host| match h {
        Host::Tcp(name) => {
            name.eq_ignore_ascii_case("localhost")
                || name
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        #[cfg(unix)]
        Host::Unix(_) => true,
    };
    pg.get_hosts().iter().all(host_local) && pg.get_hostaddrs().iter().all(IpAddr::is_loopback)
}

/// `postgres://user@host:port/db`, from the parsed URL, without a password.
fn describe(pg: &tokio_postgres::Config) -> String {
    let ports = pg.get_ports();
    let mut hosts = Vec::new();
    let count = pg.get_hosts().len().max(pg.get_hostaddrs().len());
    for i in 0..count {
        let host = match (pg.get_hosts().get(i), pg.get_hostaddrs().get(i)) {
            (Some(Host::Tcp(name)), _) => name.clone(),
            #[cfg(unix)]
            (Some(Host::Unix(path)), _) => path.display().to_string(),
            (None, Some(addr)) => addr.to_string(),
            (None, None) => String::new(),
        };
        let port = ports
            .get(i)
            .or_else(|| ports.first())
            .copied()
            .unwrap_or(5432);
        hosts.push(format!("{host}:{port}"));
    }
    let user = pg.get_user().map(|u| format!("{u}@")).unwrap_or_default();
    let db = pg.get_dbname().unwrap_or_default();
    format!("postgres://{user}{}/{db}", hosts.join(","))
}

/// The TLS parameters this crate reads itself (`tokio-postgres` knows no
/// `sslrootcert` nor the verify modes).
#[derive(Debug, Default, PartialEq, Eq)]
struct TlsParams {
    mode: Option<String>,
    rootcert: Option<String>,
}

impl TlsParams {
    /// Keeps `key`'s value if it is one of ours; true if it was.
    fn take(&mut self, key: &str, value: String) -> bool {
        match key {
            "sslmode" => self.mode = Some(value),
            "sslrootcert" => self.rootcert = Some(value),
            _ => return false,
        }
        true
    }
}

/// Splits the URL into ours and the rest (the URL without our parameters).
fn take_tls_params(url: &str) -> Result<(String, TlsParams), String> {
    let mut ssl = TlsParams::default();
    let url = url.trim();
    let prefix = ["postgres://", "postgresql://"]
        .into_iter()
        .find(|p| url.starts_with(p));
    let Some(prefix) = prefix else {
        return take_from_key_values(url, ssl);
    };
    // as tokio-postgres reads it: credentials end at the first `@`, the
    // parameters start at the first `?` after them
    let body = &url[prefix.len()..];
    let after_creds = body.find('@').map_or(0, |at| at + 1);
    let Some(q) = body[after_creds..].find('?').map(|q| q + after_creds) else {
        return Ok((url.to_owned(), ssl));
    };
    let mut kept = Vec::new();
    for pair in body[q + 1..].split('&') {
        let Some((key, value)) = pair.split_once('=') else {
            kept.push(pair);
            continue;
        };
        let key = decode(key)?;
        if !ssl.take(&key, decode(value)?) {
            kept.push(pair);
        }
    }
    let mut rest = format!("{prefix}{}", &body[..q]);
    if !kept.is_empty() {
        rest.push('?');
        rest.push_str(&kept.join("&"));
    }
    Ok((rest, ssl))
}

fn decode(s: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| "invalid connection URL: a parameter is not valid UTF-8".to_owned())
}

/// The key=value form: reads it as libpq does (`key = value`, values
/// optionally in single quotes, `\` escapes) and writes back the rest quoted.
fn take_from_key_values(s: &str, mut ssl: TlsParams) -> Result<(String, TlsParams), String> {
    let mut rest = String::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '=') {
            key.push(c);
        }
        if key.is_empty() {
            if chars.peek().is_some() {
                return Err("invalid connection string: a parameter has no name".to_owned());
            }
            break;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(format!(
                "invalid connection string: `{key}` has no `=` after it"
            ));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\'') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                    None => {
                        return Err(format!(
                            "invalid connection string: the value of `{key}` has no closing quote"
                        ));
                    }
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        if !ssl.take(&key, value.clone()) {
            if !rest.is_empty() {
                rest.push(' ');
            }
            rest.push_str(&key);
            rest.push_str("='");
            for c in value.chars() {
                if c == '\'' || c == '\\' {
                    rest.push('\\');
                }
                rest.push(c);
            }
            rest.push('\'');
        }
    }
    Ok((rest, ssl))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls(url: &str) -> Tls {
        parse(url).unwrap().tls
    }

    #[test]
    fn a_remote_host_without_sslmode_defaults_to_verify_full() {
        assert_eq!(
            tls("postgres://app@db.example.com/signoff"),
            Tls::VerifyFull(Roots::Builtin)
        );
        assert_eq!(
            tls("host=10.0.0.5 user=app dbname=signoff"),
            Tls::VerifyFull(Roots::Builtin)
        );
        assert_eq!(
            tls("postgres://app@db.example.com/signoff?sslrootcert=/etc/ca.pem"),
            Tls::VerifyFull(Roots::File("/etc/ca.pem".into()))
        );
    }

    #[test]
    fn prefer_and_allow_on_a_remote_host_are_verify_full() {
        for mode in ["prefer", "allow"] {
            assert_eq!(
                tls(&format!("postgres://db.example.com/x?sslmode={mode}")),
                Tls::VerifyFull(Roots::Builtin),
                "{mode}"
            );
        }
        // one remote host among local ones is remote
        assert_eq!(
            tls("postgres://localhost,db.example.com/x"),
            Tls::VerifyFull(Roots::Builtin)
        );
        // a local name that connects to a remote address is remote
        assert_eq!(
            tls("host=localhost hostaddr=192.0.2.7"),
            Tls::VerifyFull(Roots::Builtin)
        );
    }

    #[test]
    fn a_local_host_without_sslmode_prefers_tls_without_checking() {
        for url in [
            "postgres://postgres@127.0.0.1:5432/postgres",
            "postgres://postgres@localhost/postgres",
            "postgres://postgres@[::1]:5432/postgres",
            "postgres://postgres@127.0.0.1/postgres?sslmode=prefer",
            "host=/var/run/postgresql user=postgres",
            "postgres://%2Fvar%2Frun%2Fpostgresql/postgres",
        ] {
            assert_eq!(tls(url), Tls::Prefer, "{url}");
        }
    }

    #[test]
    fn explicit_modes_are_kept_on_any_host() {
        assert_eq!(
            tls("postgres://db.example.com/x?sslmode=disable"),
            Tls::Disable
        );
        assert_eq!(
            tls("postgres://db.example.com/x?sslmode=require"),
            Tls::Require
        );
        assert_eq!(tls("host=localhost sslmode=require"), Tls::Require);
        assert_eq!(
            tls("postgres://localhost/x?sslmode=verify-full&sslrootcert=/ca.pem"),
            Tls::VerifyFull(Roots::File("/ca.pem".into()))
        );
        assert_eq!(
            tls("host=localhost sslmode=verify-ca sslrootcert='/my ca.pem'"),
            Tls::VerifyCa(Roots::File("/my ca.pem".into()))
        );
        assert_eq!(
            tls("postgres://localhost/x?sslmode=verify-full"),
            Tls::VerifyFull(Roots::Builtin)
        );
    }

    #[test]
    fn a_ca_file_makes_require_check_the_chain() {
        assert_eq!(
            tls("postgres://localhost/x?sslmode=require&sslrootcert=/ca.pem"),
            Tls::VerifyCa(Roots::File("/ca.pem".into()))
        );
        assert_eq!(
            tls("postgres://localhost/x?sslrootcert=/ca.pem"),
            Tls::VerifyCa(Roots::File("/ca.pem".into()))
        );
    }

    #[test]
    fn system_roots_need_verify_full() {
        assert_eq!(
            tls("postgres://localhost/x?sslrootcert=system"),
            Tls::VerifyFull(Roots::Builtin)
        );
        let err = parse("postgres://localhost/x?sslmode=require&sslrootcert=system").unwrap_err();
        assert!(err.contains("verify-full"), "{err}");
    }

    #[test]
    fn an_unknown_sslmode_is_an_error_naming_it() {
        let err = parse("postgres://u:hunter2@localhost/x?sslmode=verify_full").unwrap_err();
        assert!(err.contains("`verify_full`"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let err = parse("host=localhost password=hunter2 sslmode=always").unwrap_err();
        assert!(err.contains("`always`"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn our_parameters_are_removed_and_the_rest_kept() {
        let t = parse(
            "postgres://u:p%40ss@h1:5433,h2/db?application_name=a%20b&sslmode=require&sslrootcert=%2Ftmp%2Fca.pem&connect_timeout=3",
        )
        .unwrap();
        assert_eq!(t.tls, Tls::VerifyCa(Roots::File("/tmp/ca.pem".into())));
        assert_eq!(t.pg.get_password(), Some(&b"p@ss"[..]));
        assert_eq!(t.pg.get_application_name(), Some("a b"));
        assert_eq!(
            t.pg.get_connect_timeout(),
            Some(&std::time::Duration::from_secs(3))
        );
        assert_eq!(t.pg.get_ssl_mode(), SslMode::Require);
        assert_eq!(t.name, "postgres://u@h1:5433,h2:5432/db");

        let t = parse(
            r"host=localhost port=5433 password='it\'s secret' sslmode = disable dbname=d\ b",
        )
        .unwrap();
        assert_eq!(t.tls, Tls::Disable);
        assert_eq!(t.pg.get_password(), Some(&b"it's secret"[..]));
        assert_eq!(t.pg.get_dbname(), Some("d b"));
        assert_eq!(t.pg.get_ssl_mode(), SslMode::Disable);
    }

    #[test]
    fn parse_errors_never_carry_the_password() {
        for url in [
            "postgres://u:hunter2@localhost/x?sslmode=bogus",
            "postgres://u:hunter2@localhost/x?nosuchoption=1",
            "postgres://u:hunter2@localhost/x?sslmode",
            "postgres://u:hunter2@[localhost/x",
            "host=localhost password='hunter2",
            "host=localhost password=hunter2 oops",
            "host=localhost password=hunter2 sslmode=verify-ca sslrootcert=system",
        ] {
            let err = parse(url).unwrap_err();
            assert!(!err.contains("hunter2"), "{url}: {err}");
        }
    }

    #[test]
    fn the_display_name_survives_a_wrong_sslmode() {
        assert_eq!(
            display_name("postgres://app:hunter2@db.example.com/signoff?sslmode=bogus").as_deref(),
            Some("postgres://app@db.example.com:5432/signoff")
        );
        assert_eq!(display_name("postgres://app:hunter2@[db/x"), None);
    }

    #[test]
    fn the_display_name_has_no_password() {
        for url in [
            "postgres://app:hunter2@db.example.com:6432/signoff",
            "postgres://db.example.com:6432/signoff?user=app&password=hunter2",
            "host=db.example.com port=6432 user=app password=hunter2 dbname=signoff",
        ] {
            assert_eq!(
                parse(url).unwrap().name,
                "postgres://app@db.example.com:6432/signoff",
                "{url}"
            );
        }
    }
}
