//! What the tool sends the platform: a deep-linking response (LTI Deep Linking 2.0 §4.2), and
//! the course roster from Names and Role Provisioning Services 2.0, fetched with an OAuth 2
//! client-credentials token obtained by a JWT client assertion (Security Framework §4.1).

use serde::{Deserialize, Serialize};

use super::launch::{Launch, Message, role_of};
use super::{Lti, LtiError, Platform, random_token};

/// The scope NRPS needs.
pub const NRPS_SCOPE: &str = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly";
/// The media type of an NRPS membership container.
pub const NRPS_MEDIA_TYPE: &str = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json";
/// The most members read from a roster (a cohort's roster takes at most this many).
pub const MAX_ROSTER: usize = 1_000;
/// The most pages of a roster followed.
pub const MAX_PAGES: usize = 20;
/// The largest response read from a platform's service.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// One person of the course roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RosterMember {
    pub external_id: String,
    pub display_name: String,
    pub email: Option<String>,
    /// `instructor` or `trainee`.
    pub lms_role: &'static str,
}

#[derive(Serialize)]
struct DeepLinkingResponse<'a> {
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    nonce: String,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/message_type")]
    message_type: &'static str,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/version")]
    version: &'static str,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/deployment_id")]
    deployment_id: &'a str,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti-dl/claim/content_items")]
    content_items: Vec<serde_json::Value>,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti-dl/claim/data", skip_serializing_if = "Option::is_none")]
    data: Option<&'a str>,
}

#[derive(Serialize)]
struct ClientAssertion<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
}

#[derive(Deserialize)]
struct MembershipContainer {
    #[serde(default)]
    members: Vec<NrpsMember>,
}

#[derive(Deserialize)]
struct NrpsMember {
    user_id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    given_name: Option<String>,
    #[serde(default)]
    family_name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    /// `Active` unless the platform says otherwise.
    #[serde(default)]
    status: Option<String>,
}

impl Lti {
    /// The signed deep-linking response for a deep-linking launch: one resource link that opens
    /// the course's cohorts at `launch_url`.
    pub fn deep_link_response(
        &self,
        launch: &Launch,
        launch_url: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(String, String), LtiError> {
        let Message::DeepLinking { return_url, data } = &launch.message else {
            return Err(LtiError::BadRequest("this launch is not a deep-linking request".into()));
        };
        let registration = &launch.platform.registration;
        let response = DeepLinkingResponse {
            iss: &registration.client_id,
            aud: &registration.issuer,
            iat: now.timestamp(),
            exp: (now + chrono::Duration::minutes(5)).timestamp(),
            nonce: random_token(16)?,
            message_type: "LtiDeepLinkingResponse",
            version: "1.3.0",
            deployment_id: &launch.deployment_id,
            content_items: vec![serde_json::json!({
                "type": "ltiResourceLink",
                "title": "Afterclass cohorts",
                "text": "Keep practising together after the course: the course's learning cohorts.",
                "url": launch_url,
            })],
            data: data.as_deref(),
        };
        let jwt = self.key.sign(&response).map_err(LtiError::Internal)?;
        Ok((return_url.clone(), jwt))
    }

    /// The course roster from the platform's NRPS endpoint, active members only, at most
    /// [`MAX_ROSTER`].
    pub async fn roster(
        &self,
        platform: &Platform,
        memberships_url: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<RosterMember>, LtiError> {
        let token = self.access_token(platform, NRPS_SCOPE, now).await?;
        let mut members = Vec::new();
        let mut next = Some(memberships_url.to_owned());
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                break;
            }
            let response = self
                .client
                .get(&url)
                .bearer_auth(&token)
                .header(reqwest::header::ACCEPT, NRPS_MEDIA_TYPE)
                .send()
                .await
                .map_err(|e| LtiError::Platform(format!("the platform's roster service could not be reached: {e}")))?;
            if !response.status().is_success() {
                return Err(LtiError::Platform(format!(
                    "the platform's roster service answered {}",
                    response.status()
                )));
            }
            next = next_link(response.headers());
            let body = read_limited(response).await?;
            let container: MembershipContainer = serde_json::from_slice(&body)
                .map_err(|e| LtiError::Platform(format!("the platform's roster is not a membership container: {e}")))?;
            for m in container.members {
                if m.status.as_deref().is_some_and(|s| s != "Active") || m.user_id.is_empty() {
                    continue;
                }
                if members.len() == MAX_ROSTER {
                    return Ok(members);
                }
                let name = m
                    .name
                    .filter(|n| !n.trim().is_empty())
                    .or_else(|| {
                        let joined = [m.given_name.as_deref(), m.family_name.as_deref()]
                            .into_iter()
                            .flatten()
                            .collect::<Vec<_>>()
                            .join(" ");
                        (!joined.trim().is_empty()).then_some(joined)
                    })
                    .unwrap_or_else(|| m.user_id.clone());
                members.push(RosterMember {
                    lms_role: role_of(&m.roles).as_claim(),
                    external_id: m.user_id,
                    display_name: name,
                    email: m.email.filter(|e| !e.trim().is_empty()),
                });
            }
        }
        Ok(members)
    }

    /// A client-credentials access token for `scope`, by a client assertion signed with the
    /// tool's key.
    async fn access_token(
        &self,
        platform: &Platform,
        scope: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<String, LtiError> {
        let registration = &platform.registration;
        let assertion = ClientAssertion {
            iss: &registration.client_id,
            sub: &registration.client_id,
            aud: &registration.token_url,
            iat: now.timestamp(),
            exp: (now + chrono::Duration::minutes(5)).timestamp(),
            jti: random_token(16)?,
        };
        let assertion = self.key.sign(&assertion).map_err(LtiError::Internal)?;
        let response = self
            .client
            .post(&registration.token_url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", assertion.as_str()),
                ("scope", scope),
            ])
            .send()
            .await
            .map_err(|e| LtiError::Platform(format!("the platform's token service could not be reached: {e}")))?;
        if !response.status().is_success() {
            return Err(LtiError::Platform(format!(
                "the platform's token service refused the tool ({})",
                response.status()
            )));
        }
        let body = read_limited(response).await?;
        let token: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| LtiError::Platform(format!("the platform's token answer is malformed: {e}")))?;
        Ok(token.access_token)
    }
}

/// The `rel="next"` target of a `Link` header.
fn next_link(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers.get_all(reqwest::header::LINK).iter().filter_map(|v| v.to_str().ok()).find_map(|value| {
        value.split(',').find_map(|part| {
            let (target, params) = part.split_once(';')?;
            let is_next = params.split(';').any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            });
            is_next.then(|| target.trim().trim_start_matches('<').trim_end_matches('>').to_owned())
        })
    })
}

async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, LtiError> {
    let mut body = Vec::new();
    while let Some(chunk) =
        response.chunk().await.map_err(|e| LtiError::Platform(format!("reading the platform's answer: {e}")))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(LtiError::Platform("the platform's answer is too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_page_is_read_from_the_link_header() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::LINK,
            reqwest::header::HeaderValue::from_static(
                r#"<https://lms.example/m?p=1>; rel="prev", <https://lms.example/m?p=3>; rel="next""#,
            ),
        );
        assert_eq!(next_link(&headers).as_deref(), Some("https://lms.example/m?p=3"));
        assert_eq!(next_link(&reqwest::header::HeaderMap::new()), None);
    }
}
