//! Request messages through the project's codec (`proto/src/codec.rs`), the way tonic feeds a unary
//! request to it: a malformed message is the caller's mistake and answers INVALID_ARGUMENT, never INTERNAL
//! and never a panic; a message that decodes encodes back to one that decodes to the same value.
//!
//! The first byte picks the message type; the rest is the message, framed as gRPC does (no compression,
//! its length in the header), so that only the codec's own decoding is judged here.
#![no_main]

use bytes::Bytes;
use http_body_util::Full;
use libfuzzer_sys::fuzz_target;
use prost::Message;
use tonic::{
    Code,
    codec::{Codec as _, Streaming},
};
use xinfang_proto::{
    codec::Codec,
    v1::{
        ListCasesRequest, PushRequest, RecordReturnTripRequest, RegisterLetterRequest,
        RegisterVisitRequest, SubmitFundRequestRequest,
    },
};

const MAX_MESSAGE: usize = 4 * 1024 * 1024;

fn check<M: Message + Default + PartialEq + Send + 'static>(payload: &[u8]) {
    let mut body = Vec::with_capacity(payload.len() + 5);
    body.push(0);
    body.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    body.extend_from_slice(payload);
    let decoder = Codec::<M, M>::default().decoder();
    let mut stream = Streaming::new_request(
        decoder,
        Full::new(Bytes::from(body)),
        None,
        Some(MAX_MESSAGE),
    );
    match futures::executor::block_on(stream.message()) {
        Ok(Some(message)) => {
            let again = M::decode(message.encode_to_vec().as_slice()).expect("re-encoded decodes");
            assert!(again == message, "round trip changed the message");
        }
        Ok(None) => panic!("a framed message was not delivered"),
        Err(status) => assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "malformed input answered {status:?}"
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, payload)) = data.split_first() else {
        return;
    };
    match kind % 6 {
        0 => check::<RegisterVisitRequest>(payload),
        1 => check::<PushRequest>(payload),
        2 => check::<RegisterLetterRequest>(payload),
        3 => check::<RecordReturnTripRequest>(payload),
        4 => check::<SubmitFundRequestRequest>(payload),
        _ => check::<ListCasesRequest>(payload),
    }
});
