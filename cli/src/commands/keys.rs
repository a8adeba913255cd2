//! `authpair keys rotate`.

use authpair_proto::auth::v1::RotateSigningKeyRequest;

use crate::{
    args::KeysCommand,
    context::Context,
    error::CliError,
    output::{emit, fields, timestamp},
    views::RotatedKeyView,
};

pub async fn run(ctx: &Context, command: KeysCommand) -> Result<(), CliError> {
    match command {
        KeysCommand::Rotate => {
            let rotated =
                ctx.admin(RotateSigningKeyRequest {}, |mut c, r| async move { c.rotate_signing_key(r).await }).await?;
            let view = RotatedKeyView {
                kid: rotated.kid,
                signs_from: timestamp(rotated.signs_from.as_ref()),
                previous_kid: rotated.previous_kid,
                previous_unpublished_at: timestamp(rotated.previous_unpublished_at.as_ref()),
            };
            emit(ctx.global.json, &view, || {
                fields(&[
                    ("new key", view.kid.clone()),
                    ("signs from", view.signs_from.clone()),
                    ("previous key", view.previous_kid.clone()),
                    ("unpublished at", view.previous_unpublished_at.clone()),
                ])
            });
        }
    }
    Ok(())
}
