//! DTLS setup shared by every connection: one validated dimpl configuration per process.
//!
//! dimpl checks its crypto provider whenever a configuration is built — a trial key exchange
//! on each curve (X25519, P-256, P-384), signatures, ciphers — and str0m's own DTLS provider
//! builds a configuration for every `Rtc`. Two connections per participant made that check
//! the largest part of a join's CPU in the media core (perf, `convene-bench core --scenario
//! webinar300`: P-384 arithmetic alone a quarter of the run). The configuration is the same
//! for every connection, so it is built once here; str0m gets a DTLS provider that hands the
//! shared configuration to each new dimpl session (the certificates stay per connection,
//! see `convene_sfu::downlink::Certificate`).
//!
//! Its own crate so that the clients the tests and the bench play (`convene-testkit`) get the
//! same saving: the bench's load generator made hundreds of connections a run, each paying the
//! check on the generator's core, which delayed the joins it measures.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use str0m::config::{CryptoProvider, DtlsCert, DtlsVersion};
use str0m::crypto::dtls::{DtlsImplError, DtlsInstance, DtlsOutput, DtlsProvider, ProtocolVersion};
use str0m::crypto::CryptoError;

/// The configurations built so far, by MTU (str0m asks for one size; the downlink for none).
type Built = Vec<(Option<usize>, Arc<dimpl::Config>)>;

/// The dimpl configuration for a record layer of `mtu` bytes (`None`: dimpl's default),
/// built and validated on first use. Server cookies are off: ICE has already checked the
/// peer's return routability before DTLS starts.
pub fn config(mtu: Option<usize>) -> Result<Arc<dimpl::Config>, dimpl::Error> {
    static BUILT: OnceLock<Mutex<Built>> = OnceLock::new();
    let built = BUILT.get_or_init(Mutex::default);
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, config)) = built.iter().find(|(m, _)| *m == mtu) {
        return Ok(config.clone());
    }
    let mut builder = dimpl::Config::builder().use_server_cookie(false);
    if let Some(mtu) = mtu {
        builder = builder.mtu(mtu);
    }
    let config = Arc::new(builder.build()?);
    built.push((mtu, config.clone()));
    Ok(config)
}

/// str0m's crypto (aws-lc-rs) with DTLS sessions on the shared configuration.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            static DTLS: SharedConfigDtls = SharedConfigDtls;
            Arc::new(CryptoProvider { dtls_provider: &DTLS, ..str0m_aws_lc_rs::default_provider() })
        })
        .clone()
}

/// Makes str0m's DTLS sessions on [`config`].
#[derive(Debug)]
struct SharedConfigDtls;

impl DtlsProvider for SharedConfigDtls {
    fn generate_certificate(&self) -> Option<DtlsCert> {
        str0m_aws_lc_rs::default_provider().dtls_provider.generate_certificate()
    }

    fn new_dtls(
        &self,
        cert: &DtlsCert,
        now: Instant,
        version: DtlsVersion,
        mtu: Option<usize>,
    ) -> Result<Box<dyn DtlsInstance>, CryptoError> {
        let config = config(mtu).map_err(|e| CryptoError::Other(format!("DTLS configuration: {e}")))?;
        let cert = cert.clone();
        let dtls = match version {
            DtlsVersion::Dtls12 => dimpl::Dtls::new_12(config, cert, now),
            DtlsVersion::Dtls13 => dimpl::Dtls::new_13(config, cert, now),
            DtlsVersion::Auto => dimpl::Dtls::new_auto(config, cert, now),
            other => return Err(CryptoError::Other(format!("unsupported DTLS version: {other}"))),
        };
        Ok(Box::new(Session(dtls)))
    }
}

/// One dimpl session as str0m drives it.
struct Session(dimpl::Dtls);

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Session")
    }
}

impl DtlsInstance for Session {
    fn set_active(&mut self, active: bool) {
        self.0.set_active(active);
    }

    fn handle_packet(&mut self, packet: &[u8]) -> Result<(), DtlsImplError> {
        self.0.handle_packet(packet)
    }

    fn poll_output<'a>(&mut self, buf: &'a mut [u8]) -> DtlsOutput<'a> {
        self.0.poll_output(buf)
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), DtlsImplError> {
        self.0.handle_timeout(now)
    }

    fn send_application_data(&mut self, data: &[u8]) -> Result<usize, DtlsImplError> {
        self.0.send_application_data(data)
    }

    fn is_active(&self) -> bool {
        self.0.is_active()
    }

    fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.0.protocol_version()
    }

    fn is_closing(&self) -> bool {
        self.0.is_closing()
    }

    fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    fn close(&mut self) -> Result<(), DtlsImplError> {
        self.0.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configuration_is_built_once_per_mtu() {
        let a = config(None).unwrap();
        assert!(Arc::ptr_eq(&a, &config(None).unwrap()));
        let small = config(Some(1150)).unwrap();
        assert!(!Arc::ptr_eq(&a, &small));
        assert!(Arc::ptr_eq(&small, &config(Some(1150)).unwrap()));
    }
}
