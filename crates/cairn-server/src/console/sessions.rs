//! Console sessions, kept in memory: a signed-in browser holds a random token in an HttpOnly,
//! SameSite=Strict cookie; the server maps the token to the principal that signed in, the
//! session's CSRF token (which every change must send back in a header) and its expiry. A
//! restart signs everyone out, as a new deployment of a web console does.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;

/// How long a session lasts after sign-in: AWS's console session default (12 hours).
pub const SESSION_SECONDS: u64 = 12 * 3600;

/// One signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The access key ID of the principal that signed in (looked up in the configuration on
    /// each request, so a principal removed from it loses its sessions).
    pub access_key_id: String,
    /// Sent back by the pages in the `X-Cairn-Csrf` header of every change.
    pub csrf_token: String,
    /// Seconds since the epoch.
    pub expires_at: u64,
}

/// The sessions of the running server, by the hash of their token (a token is not kept).
#[derive(Debug, Default)]
pub struct Sessions {
    by_token_hash: Mutex<HashMap<[u8; 32], Session>>,
}

/// 32 random bytes, URL-safe base64 (cookie and header safe).
fn random_token() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for a session: {e}"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn token_hash(token: &str) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(token.as_bytes()).into()
}

impl Sessions {
    /// A new session for `access_key_id`, signed in at `now` (seconds): its cookie token and
    /// the session.
    pub fn open(&self, access_key_id: &str, now: u64) -> Result<(String, Session), String> {
        let token = random_token()?;
        let session = Session {
            access_key_id: access_key_id.to_owned(),
            csrf_token: random_token()?,
            expires_at: now + SESSION_SECONDS,
        };
        let mut sessions = self.by_token_hash.lock().map_err(|e| e.to_string())?;
        sessions.retain(|_, s| s.expires_at > now);
        sessions.insert(token_hash(&token), session.clone());
        Ok((token, session))
    }

    /// The live session of `token` at `now`.
    pub fn find(&self, token: &str, now: u64) -> Option<Session> {
        let sessions = self.by_token_hash.lock().ok()?;
        sessions
            .get(&token_hash(token))
            .filter(|s| s.expires_at > now)
            .cloned()
    }

    /// Ends the session of `token` (signing out).
    pub fn close(&self, token: &str) {
        if let Ok(mut sessions) = self.by_token_hash.lock() {
            sessions.remove(&token_hash(token));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_token_until_it_expires_or_is_closed() {
        let sessions = Sessions::default();
        let (token, session) = sessions.open("AKIA1", 1_000).unwrap();
        assert_eq!(sessions.find(&token, 1_001), Some(session.clone()));
        assert_eq!(sessions.find(&token, 1_000 + SESSION_SECONDS), None);
        assert_eq!(sessions.find("another token", 1_001), None);
        let (other, _) = sessions.open("AKIA1", 1_002).unwrap();
        assert_ne!(token, other);
        assert_ne!(session.csrf_token, token);
        sessions.close(&token);
        assert_eq!(sessions.find(&token, 1_003), None);
        assert!(sessions.find(&other, 1_003).is_some());
    }
}
