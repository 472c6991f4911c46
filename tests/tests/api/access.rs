//! The access matrix: every RPC of the contract × every role, called over gRPC with an empty request. A role
//! the table allows must get past the role gate (it then fails on the empty input or the scope, never on the
//! role); a role it does not allow must be refused with PERMISSION_DENIED before any service code runs.

use bytes::{Buf, BufMut};
use prost::Message;
use tonic::{
    Code, Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    codegen::http::uri::PathAndQuery,
    metadata::MetadataValue,
};
use xinfang_server::auth::{Role, access::ACCESS};
use xinfang_tests::spawn_app;

/// Sends and receives raw message bytes, so one loop can call methods of every request type.
#[derive(Debug, Clone, Default)]
struct Raw;

#[derive(Debug, Clone, Default)]
struct RawCoder;

impl Encoder for RawCoder {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCoder {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCoder;
    type Decoder = RawCoder;
    fn encoder(&mut self) -> RawCoder {
        RawCoder
    }
    fn decoder(&mut self) -> RawCoder {
        RawCoder
    }
}

fn role_refusal(status: &Status) -> bool {
    status.code() == Code::PermissionDenied && status.message().contains("may not call")
}

#[tokio::test]
async fn every_rpc_for_every_role() {
    let app = spawn_app().await;
    let mut tokens = Vec::new();
    for role in Role::ALL {
        let org = if role == Role::TownshipClerk {
            "510422100"
        } else {
            "510422XF"
        };
        tokens.push((role, app.token(role, org).await));
    }
    // Every method of the contract is in the table (the unit test checks the converse too).
    let fds = prost_types::FileDescriptorSet::decode(xinfang_proto::FILE_DESCRIPTOR_SET).unwrap();
    let methods: usize = fds
        .file
        .iter()
        .filter(|f| f.package() == "xinfang.v1")
        .flat_map(|f| &f.service)
        .map(|s| s.method.len())
        .sum();
    assert_eq!(methods, ACCESS.len());

    let mut grpc = tonic::client::Grpc::new(app.client.channel());
    let mut checked = 0;
    for (method, allowed) in ACCESS {
        for (role, token) in &tokens {
            grpc.ready().await.unwrap();
            let mut request = tonic::Request::new(Vec::new());
            request.metadata_mut().insert(
                "authorization",
                MetadataValue::try_from(format!("Bearer {token}")).unwrap(),
            );
            let path = PathAndQuery::try_from(*method).unwrap();
            let result = grpc.unary(request, path, Raw).await;
            let refused = matches!(&result, Err(status) if role_refusal(status));
            assert_eq!(
                refused,
                !allowed.contains(role),
                "{method} as {role}: {:?}",
                result.err()
            );
            if let Err(status) = &result {
                assert_ne!(
                    status.code(),
                    Code::Internal,
                    "{method} as {role}: {status:?}"
                );
                assert_ne!(status.code(), Code::Unimplemented, "{method} as {role}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, ACCESS.len() * Role::ALL.len());
    // Empty requests wrote nothing.
    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM idempotency_keys")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(keys, 0);
}
