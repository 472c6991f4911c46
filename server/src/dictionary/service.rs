//! `xinfang.v1.DictionaryService`: every dictionary in one answer, with an etag over its content.

use prost::Message;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use xinfang_proto::{
    labels::LABELS,
    v1::{
        Category, ClaimTypeEntry, Dictionaries, EnumLabel, GetDictionariesRequest,
        dictionary_service_server::DictionaryService,
    },
};

use crate::{
    auth,
    cases::{claims::ClaimRules, model::CURRENT_REGULATION},
    db,
    error::AppError,
    intake, org,
};

pub struct DictionaryApi {
    pool: PgPool,
    claims: ClaimRules,
}

impl DictionaryApi {
    pub fn new(pool: PgPool, claims: ClaimRules) -> Self {
        Self { pool, claims }
    }

    async fn dictionaries(&self) -> Result<Dictionaries, AppError> {
        let mut conn = db::connection(&self.pool).await?;
        let categories = intake::store::categories(&mut conn)
            .await?
            .into_iter()
            .map(|(code, name)| Category { code, name })
            .collect();
        let all = org::store::ListFilter {
            kind: None,
            parent_code: None,
            after_code: None,
        };
        let org_units = org::store::list(&mut conn, &all, i64::MAX)
            .await?
            .into_iter()
            .map(org::service::to_proto)
            .collect();
        let claim_types = self
            .claims
            .of_regulation(CURRENT_REGULATION)
            .into_iter()
            .map(|(claim_type, name, statutory)| ClaimTypeEntry {
                claim_type,
                name: name.to_owned(),
                statutory_conclusion: statutory,
            })
            .collect();
        let enum_labels = LABELS
            .iter()
            .map(|(enum_name, number, value_name, label)| EnumLabel {
                enum_name: (*enum_name).to_owned(),
                number: *number,
                value_name: (*value_name).to_owned(),
                label: (*label).to_owned(),
            })
            .collect();
        let mut out = Dictionaries {
            categories,
            claim_types,
            org_units,
            enum_labels,
            etag: String::new(),
        };
        out.etag = etag(&out);
        Ok(out)
    }
}

/// A digest of the content (the etag field empty): equal dictionaries, equal etags, on any replica.
fn etag(dictionaries: &Dictionaries) -> String {
    let digest = Sha256::digest(dictionaries.encode_to_vec());
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

#[tonic::async_trait]
impl DictionaryService for DictionaryApi {
    async fn get_dictionaries(
        &self,
        request: Request<GetDictionariesRequest>,
    ) -> Result<Response<Dictionaries>, Status> {
        auth::principal(&request)?;
        Ok(Response::new(self.dictionaries().await?))
    }
}
