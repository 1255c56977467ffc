//! The SSRF guard at the network's edge: names are resolved here and a name that leads to a
//! private or loopback address is refused — once before a request (so the refusal is
//! clear), and again when the connection is made (so a name that changes its answer in
//! between, DNS rebinding, gets nowhere). Proxies from the environment are not used: they
//! would make the connection somewhere else than the checked address.

use std::net::{IpAddr, SocketAddr};

use mcpproxy_domain::netguard::{self, UrlRefusal};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// A name that resolved to an address off the public internet.
#[derive(Debug)]
pub struct PrivateAddress {
    pub host: String,
    pub ip: IpAddr,
}

impl std::fmt::Display for PrivateAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} resolves to {}, a private or loopback address",
            self.host, self.ip
        )
    }
}

impl std::error::Error for PrivateAddress {}

/// Resolves with the system and refuses private answers.
#[derive(Debug, Clone, Copy)]
pub struct PublicOnly;

async fn resolve_public(
    host: String,
) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
    if let Some(bad) = addrs.iter().find(|a| netguard::is_non_routable(a.ip())) {
        return Err(Box::new(PrivateAddress { host, ip: bad.ip() }));
    }
    Ok(addrs)
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = resolve_public(host).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Checks `url` as the connection will see it: the scheme, a literal address, and every
/// address its name resolves to.
pub async fn check(url: &str, allow_private: bool) -> Result<(), String> {
    netguard::check_url(url, false, allow_private).map_err(|e| e.to_string())?;
    if allow_private || netguard::literal_ip(url).is_some() {
        return Ok(());
    }
    let host = netguard::host_of(url).unwrap_or_default();
    match resolve_public(host).await {
        Ok(_) => Ok(()),
        Err(e) => match e.downcast::<PrivateAddress>() {
            Ok(private) => Err(UrlRefusal::Private {
                url: url.to_owned(),
                ip: private.ip,
            }
            .to_string()),
            Err(other) => Err(format!("cannot resolve {url}: {other}")),
        },
    }
}

/// A client for URLs someone else gave: public addresses only (unless allowed), no proxy,
/// redirects checked like the first URL.
pub fn client(allow_private: bool) -> Result<reqwest::Client, reqwest::Error> {
    let redirects = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 5 {
            return attempt.error("too many redirects");
        }
        match netguard::check_url(attempt.url().as_str(), false, allow_private) {
            Ok(()) => attempt.follow(),
            Err(e) => attempt.error(e.to_string()),
        }
    });
    let builder = reqwest::Client::builder()
        .no_proxy()
        .redirect(redirects)
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(20))
        .user_agent(concat!("mcpproxy/", env!("CARGO_PKG_VERSION")));
    let builder = if allow_private {
        builder
    } else {
        builder.dns_resolver(PublicOnly)
    };
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loopback_names_and_addresses_are_refused_unless_allowed() {
        let refused = check("http://localhost:9/x", false).await.unwrap_err();
        assert!(refused.contains("private or loopback"), "{refused}");
        let refused = check("http://127.0.0.1:9/x", false).await.unwrap_err();
        assert!(refused.contains("127.0.0.1"), "{refused}");
        assert!(check("http://localhost:9/x", true).await.is_ok());
        assert!(check("ftp://example.com/", true).await.is_err());
    }

    #[tokio::test]
    async fn the_guarded_client_does_not_connect_to_a_loopback_name() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let err = client(false)
            .unwrap()
            .get(format!("http://localhost:{port}/"))
            .send()
            .await
            .unwrap_err();
        let mut chain = String::new();
        let mut source: Option<&dyn std::error::Error> = Some(&err);
        while let Some(e) = source {
            chain.push_str(&e.to_string());
            source = e.source();
        }
        assert!(chain.contains("private or loopback"), "{chain}");
    }
}
