//! A logout: a refresh family ended, the access tokens it issued (and those
//! exchanged from them) and, if sent, the caller's access token logged as
//! revoked, in one transaction.

use super::{
    Store, StoreError,
    refresh::revoke_family,
    revocations::{Entry, append},
    session_tokens::{self, RevokedToken},
};

/// The access token sent with a logout.
#[derive(Debug, Clone, Copy)]
pub struct AccessToken<'a> {
    pub subject: &'a str,
    pub token_id: &'a str,
    pub expires_at: i64,
}

/// What a logout ended.
#[derive(Debug, Clone)]
pub struct LoggedOut {
    pub user_id: String,
    /// The session's access tokens still live, each logged as revoked:
    /// those Login and Refresh issued and those exchanged from them.
    pub session_tokens: Vec<RevokedToken>,
    /// The log sequence of the revocation of the access token sent with
    /// the logout, if it was the user's and not already among those.
    pub access_token: Option<u64>,
}

impl Store {
    /// Logs a user out in one transaction, so a logout is all or nothing:
    /// revokes the family of the refresh token with this hash (consumed or
    /// not) with its live access tokens and, if `access` is a token of the
    /// family's user, logs that token as revoked. None for an unknown
    /// refresh token.
    pub async fn log_out(
        &self,
        token_hash: &str,
        access: Option<AccessToken<'_>>,
        now: i64,
    ) -> Result<Option<LoggedOut>, StoreError> {
        const REASON: &str = "logout";
        let mut tx = self.db.begin_serialized().await?;
        let family: Option<(String, String)> = sqlx::query_as(
            "SELECT f.id, f.user_id FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id \
             WHERE t.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((family_id, user_id)) = family else {
            return Ok(None);
        };
        revoke_family(&mut tx, &family_id, now, REASON).await?;
        let session_tokens =
            session_tokens::revoke_all(&mut tx, self.backend(), &family_id, &user_id, now, REASON).await?;
        // Someone else's access token is not this logout's to revoke.
        let sent = access.filter(|a| a.subject == user_id);
        let access_token = match sent.filter(|a| !session_tokens.iter().any(|r| r.token.token_id == a.token_id)) {
            Some(a) => {
                let entry = Entry {
                    kind: "token",
                    subject: a.subject,
                    token_id: Some(a.token_id),
                    expires_at: a.expires_at,
                    reason: REASON,
                    now,
                };
                Some(append(&mut tx, self.backend(), entry).await?)
            }
            None => None,
        };
        tx.commit().await?;
        Ok(Some(LoggedOut { user_id, session_tokens, access_token }))
    }
}
