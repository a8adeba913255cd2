//! Documents: roles and scopes to write, ownership (ABAC) with an admin
//! override, the existence rule, and the per-plan Search quota.

use std::time::Duration;

use authpair_proto::resource::v1::{
    CreateDocumentRequest, DeleteDocumentRequest, Document, GetDocumentRequest, ListDocumentsRequest, SearchRequest,
    UpdateDocumentRequest,
};
use authpair_tests::{TestApp, TestResult, assert_invalid_argument, assert_status, bearer, plan_quotas, reason};
use serde_json::json;
use tonic::{Code, Status, metadata::MetadataValue};
use tonic_types::StatusExt;

async fn create(app: &TestApp, token: &str, title: &str) -> Result<Document, Status> {
    let request = CreateDocumentRequest { title: title.into(), body: format!("body of {title}") };
    let created = app.resource.clone().create_document(bearer(request, token)).await?.into_inner();
    created.document.ok_or_else(|| Status::internal("CreateDocument answered without the document"))
}

#[tokio::test]
async fn an_editor_creates_and_owns_a_document_but_a_viewer_or_an_unscoped_editor_cannot() -> TestResult {
    let app = TestApp::spawn().await?;
    let (editor, editor_token) = app.user_with_token("eve", &["editor"]).await?;
    let doc = create(&app, &editor_token, "plans").await?;
    assert_eq!(doc.owner, editor.id);
    assert_eq!(doc.id.len(), 36);

    let (_, viewer) = app.user_with_token("val", &["viewer"]).await?;
    assert_status(create(&app, &viewer, "nope").await, Code::PermissionDenied, "requires role editor", "ROLE_REQUIRED");

    let forger = app.forger().await?;
    let mut claims = forger.claims(&editor.id, &["editor"]);
    claims["scope"] = json!("profile documents:read");
    let unscoped = forger.sign(&forger.header(), &claims);
    let result = create(&app, &unscoped, "nope").await;
    assert_status(result, Code::PermissionDenied, "requires scope documents:write", "SCOPE_REQUIRED");
    Ok(())
}

#[tokio::test]
async fn az_03_write_needs_the_write_scope_and_scope_must_be_one_space_separated_string() -> TestResult {
    let app = TestApp::spawn().await?;
    let (editor, _) = app.user_with_token("sam", &["editor"]).await?;
    let forger = app.forger().await?;
    let with_scope = |scope: Option<serde_json::Value>| {
        let mut claims = forger.claims(&editor.id, &["editor"]);
        match scope {
            Some(scope) => claims["scope"] = scope,
            None => drop(claims.as_object_mut().map(|c| c.remove("scope"))),
        }
        forger.sign(&forger.header(), &claims)
    };

    // A known caller without the scope: PERMISSION_DENIED.
    for scope in ["documents:read", "profile", "", "documents:writer", "DOCUMENTS:WRITE"] {
        let result = create(&app, &with_scope(Some(json!(scope))), "nope").await;
        assert_status(result, Code::PermissionDenied, "requires scope documents:write", "SCOPE_REQUIRED");
    }
    // Another shape of `scope` is not a token authpair issued: UNAUTHENTICATED.
    for scope in [json!(["documents:write"]), json!({"documents:write": true}), json!(1)] {
        let status =
            create(&app, &with_scope(Some(scope.clone())), "nope").await.err().ok_or(format!("{scope} accepted"))?;
        assert_eq!(status.code(), Code::Unauthenticated, "{scope}: {status:?}");
    }
    let result = create(&app, &with_scope(None), "nope").await;
    assert_status(result, Code::Unauthenticated, "token missing required claim scope", "TOKEN_INVALID");

    // The control: the same token with the scope among others is allowed.
    create(&app, &with_scope(Some(json!("profile documents:write"))), "yes").await?;
    Ok(())
}

#[tokio::test]
async fn az_02_a_non_owner_is_refused_with_not_owner_and_an_admin_may_act_on_any_document() -> TestResult {
    let app = TestApp::spawn().await?;
    let (_, alice) = app.user_with_token("alice", &["editor"]).await?;
    let (_, bob) = app.user_with_token("bob", &["editor"]).await?;
    let admin = app.root_token().await?;
    let doc = create(&app, &alice, "alice's").await?;
    let mut resource = app.resource.clone();

    let get = |id: &str| GetDocumentRequest { id: id.into() };
    let update = |id: &str| UpdateDocumentRequest { id: id.into(), title: Some("mine now".into()), body: None };
    let delete = |id: &str| DeleteDocumentRequest { id: id.into() };
    let not_owner = (Code::PermissionDenied, "not the owner", "NOT_OWNER");
    assert_status(resource.get_document(bearer(get(&doc.id), &bob)).await, not_owner.0, not_owner.1, not_owner.2);
    assert_status(resource.update_document(bearer(update(&doc.id), &bob)).await, not_owner.0, not_owner.1, not_owner.2);
    assert_status(resource.delete_document(bearer(delete(&doc.id), &bob)).await, not_owner.0, not_owner.1, not_owner.2);
    let bobs_list = resource.list_documents(bearer(ListDocumentsRequest::default(), &bob)).await?.into_inner();
    assert!(bobs_list.documents.is_empty(), "a non-admin lists only their own");

    // Missing ids are NOT_FOUND for everyone.
    let missing = "00000000-0000-4000-8000-000000000000";
    for token in [&alice, &bob, &admin] {
        let status = resource.get_document(bearer(get(missing), token)).await.err().ok_or("found")?;
        assert_eq!((status.code(), status.message()), (Code::NotFound, "document not found"));
    }

    // The owner and an admin can.
    let found = resource.get_document(bearer(get(&doc.id), &alice)).await?.into_inner().document;
    assert_eq!(found.ok_or("no document")?.title, "alice's");
    let all = resource.list_documents(bearer(ListDocumentsRequest::default(), &admin)).await?.into_inner();
    assert_eq!(all.documents.len(), 1);
    let renamed = resource.update_document(bearer(update(&doc.id), &admin)).await?.into_inner();
    let renamed = renamed.document.ok_or("no document")?;
    assert_eq!((renamed.title.as_str(), renamed.owner.as_str()), ("mine now", doc.owner.as_str()));
    resource.delete_document(bearer(delete(&doc.id), &admin)).await?;
    let gone = resource.get_document(bearer(get(&doc.id), &alice)).await.err().ok_or("still there")?;
    assert_eq!(gone.code(), Code::NotFound);
    Ok(())
}

#[tokio::test]
async fn bad_document_input_is_invalid_argument() -> TestResult {
    let app = TestApp::spawn().await?;
    let (_, editor) = app.user_with_token("ed", &["editor"]).await?;
    let mut resource = app.resource.clone();
    for (title, body, message) in [
        ("", "b", "title must be 1 to 200 characters"),
        (&*"t".repeat(201), "b", "title must be 1 to 200 characters"),
        ("ok", &*"b".repeat(64 * 1024 + 1), "body must be at most 65536 bytes"),
    ] {
        let request = CreateDocumentRequest { title: title.into(), body: body.into() };
        let status = resource.create_document(bearer(request, &editor)).await.err().ok_or(message)?;
        assert_eq!((status.code(), status.message()), (Code::InvalidArgument, message));
    }
    // The largest valid request fits the message cap; one past it is refused
    // before decoding, without allocating it.
    let largest = CreateDocumentRequest { title: "t".repeat(200), body: "b".repeat(64 * 1024) };
    resource.create_document(bearer(largest, &editor)).await?;
    let huge = CreateDocumentRequest { title: "ok".into(), body: "b".repeat(resource_service::MAX_MESSAGE_BYTES) };
    let status = resource.create_document(bearer(huge, &editor)).await.err().ok_or("a huge request was decoded")?;
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    let empty_id = resource.get_document(bearer(GetDocumentRequest { id: String::new() }, &editor)).await;
    assert_eq!(empty_id.err().map(|s| s.code()), Some(Code::InvalidArgument));
    let bad_page = ListDocumentsRequest { page_size: 0, page_token: "!!".into() };
    let status = resource.list_documents(bearer(bad_page, &editor)).await.err().ok_or("accepted")?;
    assert_eq!((status.code(), status.message()), (Code::InvalidArgument, "invalid page_token"));
    Ok(())
}

#[tokio::test]
async fn list_documents_pages_through_the_callers_own_documents() -> TestResult {
    let app = TestApp::spawn().await?;
    let (_, editor) = app.user_with_token("pat", &["editor"]).await?;
    for i in 0..5 {
        create(&app, &editor, &format!("doc {i}")).await?;
    }
    let mut resource = app.resource.clone();
    let (mut seen, mut page_token) = (Vec::new(), String::new());
    loop {
        let request = ListDocumentsRequest { page_size: 2, page_token: page_token.clone() };
        let page = resource.list_documents(bearer(request, &editor)).await?.into_inner();
        seen.extend(page.documents.into_iter().map(|d| d.title));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    seen.sort();
    assert_eq!(seen, ["doc 0", "doc 1", "doc 2", "doc 3", "doc 4"]);
    Ok(())
}

#[tokio::test]
async fn search_finds_only_what_the_caller_may_read() -> TestResult {
    let app = TestApp::spawn().await?;
    let (_, alice) = app.user_with_token("alice", &["editor"]).await?;
    let (_, bob) = app.user_with_token("bob", &["editor"]).await?;
    create(&app, &alice, "alice quarterly report").await?;
    create(&app, &bob, "bob quarterly report").await?;
    let found = app.resource.clone().search(bearer(SearchRequest { query: "QUARTERLY".into() }, &alice)).await?;
    let titles: Vec<_> = found.into_inner().documents.into_iter().map(|d| d.title).collect();
    assert_eq!(titles, ["alice quarterly report"]);
    let admin = app.root_token().await?;
    let all = app.resource.clone().search(bearer(SearchRequest { query: "quarterly".into() }, &admin)).await?;
    assert_eq!(all.into_inner().documents.len(), 2);
    Ok(())
}

#[tokio::test]
async fn search_quota_is_per_plan_and_subject_exhausts_with_retry_info_and_recovers_after_the_window() -> TestResult {
    let window = Duration::from_secs(2);
    let app = TestApp::spawn_with(
        |_| {},
        |r| {
            r.quotas.plan_quotas = plan_quotas("free=3,pro=6");
            r.quotas.quota_window = window;
        },
    )
    .await?;
    let (_, free) = app.user_with_token("freda", &["viewer"]).await?;
    let (_, other) = app.user_with_token("otto", &["viewer"]).await?;
    let pro = app.root_token().await?; // the bootstrap admin is on the pro plan
    let search = |token: &str| {
        let mut request = bearer(SearchRequest { query: "x".into() }, token);
        // Client-chosen identity must not move the quota key.
        request.metadata_mut().insert("x-user-id", MetadataValue::from_static("someone-else"));
        let mut resource = app.resource.clone();
        async move { resource.search(request).await.map(drop) }
    };
    for _ in 0..3 {
        search(&free).await?;
    }
    let status = search(&free).await.err().ok_or("quota not enforced")?;
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(reason(&status).as_deref(), Some("QUOTA_EXCEEDED"));
    assert!(status.message().starts_with("quota exceeded; retry in "), "{}", status.message());
    let retry = status.get_details_retry_info().and_then(|r| r.retry_delay).ok_or("no RetryInfo")?;
    assert!(retry > Duration::ZERO && retry <= window, "{retry:?}");

    // Another subject on the same plan has its own allowance; pro has more.
    search(&other).await?;
    for _ in 0..6 {
        search(&pro).await?;
    }
    assert_eq!(search(&pro).await.err().map(|s| s.code()), Some(Code::ResourceExhausted));

    // Time must pass for a rate limit to refill: wait as long as told.
    tokio::time::sleep(retry).await;
    search(&free).await?;
    Ok(())
}

#[tokio::test]
async fn a_nul_character_gets_a_clear_answer_on_either_backend_never_internal() -> TestResult {
    let app = TestApp::spawn().await?;
    let (_, editor) = app.user_with_token("nia", &["editor"]).await?;
    let mut resource = app.resource.clone();
    let invalid = assert_invalid_argument::<()>;
    let body = CreateDocumentRequest { title: "t".into(), body: "a\0b".into() };
    invalid(resource.create_document(bearer(body, &editor)).await.map(drop), "body must not contain NUL characters");
    let search = SearchRequest { query: "a\0".into() };
    invalid(resource.search(bearer(search, &editor)).await.map(drop), "query must not contain NUL characters");
    let login = authpair_proto::auth::v1::LoginRequest {
        username: "nia\0".into(),
        password: "whatever".into(),
        ..Default::default()
    };
    invalid(app.auth.clone().login(login).await.map(drop), "username must not contain NUL characters");
    let issue = authpair_proto::auth::v1::IssueServiceTokenRequest {
        client_id: "svc\0".into(),
        client_secret: "apcs_x".into(),
        scope: String::new(),
        ..Default::default()
    };
    invalid(app.auth.clone().issue_service_token(issue).await.map(drop), "client_id must not contain NUL characters");
    let get = resource.get_document(bearer(GetDocumentRequest { id: "doc\0".into() }, &editor)).await;
    invalid(get.map(drop), "id must not contain NUL characters");
    // An admin's reference to a user, and a listing's page token, alike.
    let admin = app.admin_token().await?;
    let by_id =
        authpair_proto::auth::v1::UserRef { user: Some(authpair_proto::auth::v1::user_ref::User::Id("id\0".into())) };
    let disable = authpair_proto::auth::v1::DisableUserRequest { user: Some(by_id) };
    invalid(
        app.admin.clone().disable_user(bearer(disable, &admin)).await.map(drop),
        "user.id must not contain NUL characters",
    );
    let list = authpair_proto::auth::v1::ListUsersRequest { page_token: "YQA".into(), page_size: 0 };
    invalid(app.admin.clone().list_users(bearer(list, &admin)).await.map(drop), "invalid page_token");
    Ok(())
}
