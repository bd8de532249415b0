//! Tightening a key from the portal: suggestions from its use, a replay of
//! a restriction against its history, report-only proposals, enforcement.

use keyport_api::{KeyView, ProposeRequest, ReplayReport, ReplayRequest, Restriction, Suggestions};
use reqwest::Method;

use crate::client::ServiceClient;
use crate::error::Result;
use crate::portal::Portal;

impl ServiceClient {
    pub async fn key_suggestions(&self, id: &str, days: Option<u32>) -> Result<Suggestions> {
        let query: Vec<(&str, String)> =
            days.map(|d| ("days", d.to_string())).into_iter().collect();
        self.call(
            Method::GET,
            &["v1", "keys", id, "suggestions"],
            &query,
            None::<&()>,
        )
        .await
    }

    pub async fn replay_restriction(
        &self,
        id: &str,
        restriction: Restriction,
        days: Option<u32>,
    ) -> Result<ReplayReport> {
        let req = ReplayRequest { restriction, days };
        self.call(
            Method::POST,
            &["v1", "keys", id, "restrictions", "replay"],
            &[],
            Some(&req),
        )
        .await
    }

    pub async fn propose_restriction(
        &self,
        id: &str,
        restriction: Restriction,
        days: Option<u32>,
    ) -> Result<KeyView> {
        let req = ProposeRequest { restriction, days };
        self.call(
            Method::PUT,
            &["v1", "keys", id, "restrictions", "proposal"],
            &[],
            Some(&req),
        )
        .await
    }

    pub async fn enforce_proposal(&self, id: &str) -> Result<KeyView> {
        self.call(
            Method::POST,
            &["v1", "keys", id, "restrictions", "proposal", "enforce"],
            &[],
            None::<&()>,
        )
        .await
    }

    pub async fn drop_proposal(&self, id: &str) -> Result<KeyView> {
        self.call(
            Method::DELETE,
            &["v1", "keys", id, "restrictions", "proposal"],
            &[],
            None::<&()>,
        )
        .await
    }
}

impl Portal {
    pub async fn key_suggestions(&self, id: &str, days: Option<u32>) -> Result<Suggestions> {
        self.client().await?.key_suggestions(id, days).await
    }

    pub async fn replay_restriction(
        &self,
        id: &str,
        restriction: Restriction,
        days: Option<u32>,
    ) -> Result<ReplayReport> {
        self.client()
            .await?
            .replay_restriction(id, restriction, days)
            .await
    }

    pub async fn propose_restriction(
        &self,
        id: &str,
        restriction: Restriction,
        days: Option<u32>,
    ) -> Result<KeyView> {
        self.client()
            .await?
            .propose_restriction(id, restriction, days)
            .await
    }

    pub async fn enforce_proposal(&self, id: &str) -> Result<KeyView> {
        self.client().await?.enforce_proposal(id).await
    }

    pub async fn drop_proposal(&self, id: &str) -> Result<KeyView> {
        self.client().await?.drop_proposal(id).await
    }
}
