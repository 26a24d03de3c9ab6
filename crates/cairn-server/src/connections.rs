//! Serving connections within the `[limits]` of the configuration: at most `max_connections`
//! at once (more wait in the listen queue), each request's headers in `header_timeout` and
//! `max_header_bytes` (hyper answers 431 beyond), HTTP/1.1 with keep-alive. On shutdown the
//! listener stops, each connection finishes the request it is serving, and the function
//! returns when the last one has closed.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tower::ServiceExt as _;

use crate::config::LimitsConfig;

/// Serves `app` on `listener` until `shutdown` completes.
pub async fn serve<L>(
    mut listener: L,
    app: Router,
    limits: &LimitsConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections()));
    let (closing, close) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout())
        .max_buf_size(limits.max_header_bytes())
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.map_err(std::io::Error::other)?,
            () = &mut shutdown => break,
        };
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let builder = builder.clone();
        let mut close = close.clone();
        connections.spawn(async move {
            let _slot = slot;
            let service =
                hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
                    let mut request = request.map(axum::body::Body::new);
                    request.extensions_mut().insert(ConnectInfo(peer));
                    app.clone().oneshot(request)
                });
            let connection = builder.serve_connection(TokioIo::new(io), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = close.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
        // Forget the connections that have ended.
        while connections.try_join_next().is_some() {}
    }
    let _ = closing.send(true);
    drop(app);
    while connections.join_next().await.is_some() {}
    Ok(())
}
