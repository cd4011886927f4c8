//! Clients the provider did not register (docs/mcp.md): `[clients]` in the
//! policy, and which client ids name a Client ID Metadata Document. Such
//! clients are public, use PKCE with S256, and may only ask for the scopes
//! `[clients] scopes` lists; what they say of themselves is read by
//! [`crate::client_metadata`].

/// `[clients]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientsSettings {
    /// A `client_id` that is an https URL names its metadata document.
    pub metadata_documents: bool,
    /// Also `http://127.0.0.1:<port>/…` (and `[::1]`) document URLs, for development.
    pub loopback_metadata_documents: bool,
    /// `/oauth2/register` (RFC 7591) is open.
    pub registration: bool,
    /// The scopes such clients may be given, declared names.
    pub scopes: Vec<String>,
}

/// The most a metadata document may weigh.
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024;
/// Whether `client_id` names a metadata document this server may fetch:
/// an https URL with a path (or, with `loopback`, an http URL on 127.0.0.1
/// or [::1]), without user information or fragment.
pub fn is_document_url(client_id: &str, loopback: bool) -> bool {
    let Ok(url) = url::Url::parse(client_id) else {
        return false;
    };
    let plain = url.username().is_empty() && url.password().is_none() && url.fragment().is_none();
    let has_path = url.path() != "/" && !url.path().is_empty();
    let scheme_ok = match url.scheme() {
        "https" => url.host_str().is_some_and(|h| !h.is_empty()),
        "http" => {
            loopback
                && match url.host() {
                    Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                    Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                    _ => false,
                }
        }
        _ => false,
    };
    plain && has_path && scheme_ok && !client_id.contains('#')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const URL: &str = "https://agent.example/client.json";

    #[test]
    fn a_document_url_is_https_with_a_path_or_loopback_when_allowed() {
        assert!(is_document_url(URL, false));
        assert!(!is_document_url("https://agent.example/", false), "a path is needed");
        assert!(!is_document_url("http://agent.example/c.json", true));
        assert!(!is_document_url("http://127.0.0.1:9/c.json", false));
        assert!(is_document_url("http://127.0.0.1:9/c.json", true));
        assert!(!is_document_url("https://u@agent.example/c.json", false));
        assert!(!is_document_url("sgci_abc", false));
    }
}
