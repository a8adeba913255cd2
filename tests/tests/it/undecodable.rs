//! A request body that is not a valid protobuf message is the client's
//! mistake: INVALID_ARGUMENT on every service, never INTERNAL.

use authpair_tests::{TestApp, TestResult, bearer, channel};
use bytes::BufMut as _;
use tonic::{
    Code, Request, Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    codegen::http::uri::PathAndQuery,
};

/// Sends its item's bytes as the message, whatever they are.
#[derive(Debug, Default)]
struct RawCodec;
#[derive(Debug)]
struct RawEncoder;
#[derive(Debug)]
struct IgnoreDecoder;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = ();
    type Encoder = RawEncoder;
    type Decoder = IgnoreDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> IgnoreDecoder {
        IgnoreDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for IgnoreDecoder {
    type Item = ();
    type Error = Status;
    fn decode(&mut self, _: &mut DecodeBuf<'_>) -> Result<Option<()>, Status> {
        Ok(Some(()))
    }
}

/// `bytes` as the request of `path` on the server at `addr`.
async fn send(addr: std::net::SocketAddr, path: &'static str, request: Request<Vec<u8>>) -> Result<(), Status> {
    let mut grpc = tonic::client::Grpc::new(channel(addr).map_err(|e| Status::unavailable(e.to_string()))?);
    grpc.ready().await.map_err(|e| Status::unavailable(e.to_string()))?;
    grpc.unary(request, PathAndQuery::from_static(path), RawCodec).await.map(drop)
}

/// Field 1 as a truncated varint: no message decodes it.
const GARBAGE: &[u8] = &[0x08, 0xff, 0xff];

#[track_caller]
fn assert_invalid_argument(result: Result<(), Status>, path: &str) {
    let status = result.err().unwrap_or_else(|| panic!("{path}: garbage accepted"));
    assert_eq!(
        (status.code(), status.message()),
        (Code::InvalidArgument, "the request is not a valid message"),
        "{path}"
    );
}

#[tokio::test]
async fn garbage_bytes_as_a_request_are_invalid_argument_on_both_services() -> TestResult {
    let app = TestApp::spawn().await?;
    let login = send(app.auth_server.addr, "/auth.v1.AuthService/Login", Request::new(GARBAGE.to_vec())).await;
    assert_invalid_argument(login, "Login");
    let status =
        send(app.resource_server.addr, "/resource.v1.ResourceService/GetStatus", Request::new(GARBAGE.to_vec()));
    assert_invalid_argument(status.await, "GetStatus");
    // Past authentication too: the body is decoded after the auth layer.
    let (_, token) = app.user_with_token("gary", &["editor"]).await?;
    let create = bearer(GARBAGE.to_vec(), &token);
    assert_invalid_argument(
        send(app.resource_server.addr, "/resource.v1.ResourceService/CreateDocument", create).await,
        "CreateDocument",
    );
    let admin = bearer(GARBAGE.to_vec(), &app.admin_token().await?);
    assert_invalid_argument(send(app.auth_server.addr, "/auth.v1.AdminService/CreateUser", admin).await, "CreateUser");
    Ok(())
}

#[tokio::test]
async fn garbage_without_a_token_on_an_authenticated_method_is_still_unauthenticated_first() -> TestResult {
    let app = TestApp::spawn().await?;
    let refused =
        send(app.resource_server.addr, "/resource.v1.ResourceService/CreateDocument", Request::new(GARBAGE.to_vec()));
    let status = refused.await.err().ok_or("served without a token")?;
    assert_eq!(status.code(), Code::Unauthenticated);
    Ok(())
}
