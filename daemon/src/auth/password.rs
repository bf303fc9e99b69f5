//! Argon2id password hashing off the async threads, bounded so a login flood cannot
//! exhaust memory: a fixed pool of one thread per core runs the hashes, a bounded number
//! wait, and beyond that callers are told the daemon is overloaded at once.
//!
//! Dedicated threads, each with its Argon2 memory allocated once and reused: allocating
//! `memory_kib` per hash (as `PasswordHasher` does) on tokio's blocking pool fragmented
//! glibc's heap until the daemon held 230–750 MB under a steady login load; with
//! reused memory it holds one block set per core while logins come, and gives it back
//! once its thread has been idle for [`IDLE_RELEASE`].

use crate::config::Argon2Config;
use crate::secret::Secret;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use std::cell::RefCell;
use std::sync::{Arc, Mutex, mpsc};
use tokio::sync::{Semaphore, oneshot};

/// How many hashes may wait per running one before callers must wait for admission.
const QUEUE_PER_WORKER: usize = 32;
/// How long a caller waits for admission when every slot is taken before it is told
/// `Overloaded`. A refusal answered at once invites an immediate retry: under a
/// closed-loop flood the request threads would then take the core from the hash
/// workers (successful logins fell to half the Argon2 rate). Waiting costs a timer,
/// not CPU, and a slot that frees meanwhile admits the longest waiter.
const ADMISSION_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// How long a hashing thread waits for work before it gives its Argon2 memory back.
const IDLE_RELEASE: std::time::Duration = std::time::Duration::from_secs(30);

/// The least capacity, in blocks, of a thread's Argon2 memory. glibc gives a large
/// allocation its own mapping, unmapped when freed, only above its mmap threshold, and
/// that threshold rises (up to 32 MiB on 64-bit) to the size of any such block freed:
/// after the first release, the next 19 MiB would come from an arena and stay
/// resident once released. Reserving past 32 MiB keeps every block set in its own
/// mapping; pages beyond those Argon2 uses are never touched and take no memory.
const OWN_MAPPING_BLOCKS: usize = (32 << 20) / Block::SIZE + 1;

/// Failures of hashing.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Too many hashes queued; try again shortly.
    #[error("password hashing queue is full")]
    Overloaded,
    /// The hasher failed (bad parameters, worker panic).
    #[error("password hashing failed: {0}")]
    Internal(String),
}

/// Hashes and verifies human passwords.
#[derive(Debug, Clone)]
pub struct Passwords {
    argon: Argon2<'static>,
    pool: mpsc::Sender<Job>,
    admitted: Arc<Semaphore>,
    /// How many hashes [`Passwords::admitted`] lets in at once.
    capacity: usize,
    /// How long each hash took on its thread (the metrics' histogram).
    seconds: Histogram,
}

impl Passwords {
    /// A hasher with `params` and `workers` concurrent hashes.
    pub fn new(params: Argon2Config, workers: usize) -> Result<Self, PasswordError> {
        let workers = workers.max(1);
        let capacity = workers * (1 + QUEUE_PER_WORKER);
        Ok(Self {
            argon: argon2id(params)?,
            pool: start_pool(workers)?,
            admitted: Arc::new(Semaphore::new(capacity)),
            capacity,
            // 1 ms to about 4 s.
            seconds: Histogram::new(exponential_buckets(0.001, 2.0, 13)),
        })
    }

    /// The durations of the hashes run so far, in seconds.
    pub fn durations(&self) -> Histogram {
        self.seconds.clone()
    }

    /// Hashes a new password into a PHC string.
    pub async fn hash(&self, password: Secret) -> Result<String, PasswordError> {
        let argon = self.argon.clone();
        self.run(move || hash_with(&argon, password.expose().as_bytes())).await
    }

    /// Checks `password` against `phc`. When the account does not exist (`None`) the
    /// password is hashed with the configured parameters instead, the same work as
    /// verifying against a current hash, and the answer is false.
    pub async fn verify(&self, password: Secret, phc: Option<String>) -> Result<bool, PasswordError> {
        match phc {
            Some(phc) => {
                self.run(move || {
                    checking();
                    verify_with(password.expose().as_bytes(), &phc)
                })
                .await
            }
            None => {
                let argon = self.argon.clone();
                self.run(move || {
                    checking();
                    hash_with(&argon, password.expose().as_bytes()).map(|_| false)
                })
                .await
            }
        }
    }

    /// Hashes admitted and not yet answered: running or waiting for a thread.
    pub fn queue_depth(&self) -> usize {
        self.capacity.saturating_sub(self.admitted.available_permits())
    }

    /// True when `phc` was not made with the configured algorithm and parameters, so
    /// it should be replaced at the next successful login.
    pub fn is_outdated(&self, phc: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(phc) else {
            return true;
        };
        let current = self.argon.params();
        let same = parsed.algorithm == Algorithm::Argon2id.ident()
            && parsed.version == Some(Version::V0x13.into())
            && Params::try_from(&parsed).is_ok_and(|p| {
                (p.m_cost(), p.t_cost(), p.p_cost()) == (current.m_cost(), current.t_cost(), current.p_cost())
            });
        !same
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        // The permit travels with the job: a caller that hangs up does not free its
        // slot while its hash still waits or runs.
        let admitted = match Arc::clone(&self.admitted).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => tokio::time::timeout(ADMISSION_WAIT, Arc::clone(&self.admitted).acquire_owned())
                .await
                .map_err(|_| PasswordError::Overloaded)?
                .map_err(|_| PasswordError::Overloaded)?,
        };
        let (tx, rx) = oneshot::channel();
        let seconds = self.seconds.clone();
        let job: Job = Box::new(move || {
            // Nobody waits for the answer any more (the client hung up): skip the work.
            let started = std::time::Instant::now();
            let answer = (!tx.is_closed()).then(work);
            if answer.is_some() {
                seconds.observe(started.elapsed().as_secs_f64());
            }
            // Free the slot before answering, so the caller finds it free.
            drop(admitted);
            if let Some(answer) = answer {
                let _ = tx.send(answer);
            }
        });
        let stopped = || PasswordError::Internal("hashing pool stopped".into());
        self.pool.send(job).map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// Starts `workers` hashing threads; they exit when every sender is dropped.
fn start_pool(workers: usize) -> Result<mpsc::Sender<Job>, PasswordError> {
    let (tx, rx) = mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..workers {
        let rx = Arc::clone(&rx);
        std::thread::Builder::new()
            .name(format!("tessera-argon2-{i}"))
            .spawn(move || {
                loop {
                    // Idle threads take turns at the receiver, so each one times out
                    // in turn and gives its memory back.
                    let next = crate::locks::lock(&rx).recv_timeout(IDLE_RELEASE);
                    match next {
                        Ok(job) => job(),
                        Err(mpsc::RecvTimeoutError::Timeout) => release_memory(),
                        Err(mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                }
            })
            .map_err(|e| PasswordError::Internal(e.to_string()))?;
    }
    Ok(tx)
}

fn internal(e: impl std::fmt::Display) -> PasswordError {
    PasswordError::Internal(e.to_string())
}

thread_local! {
    /// This thread's Argon2 memory, grown once and reused by every hash it runs.
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Gives this thread's Argon2 memory back to the allocator.
fn release_memory() {
    BLOCKS.with_borrow_mut(|blocks| *blocks = Vec::new());
}

/// The size of this thread's Argon2 memory, in blocks.
#[cfg(test)]
fn held_blocks() -> usize {
    BLOCKS.with_borrow(Vec::len)
}

/// Raw Argon2 into `out`, in this thread's reused memory.
fn argon2_into(argon: &Argon2<'_>, password: &[u8], salt: &[u8], out: &mut [u8]) -> Result<(), PasswordError> {
    BLOCKS.with_borrow_mut(|blocks| {
        let needed = argon.params().block_count();
        if blocks.len() < needed {
            blocks.reserve_exact(needed.max(OWN_MAPPING_BLOCKS) - blocks.len());
            blocks.resize(needed, Block::default());
        }
        argon
            .hash_password_into_with_memory(password, salt, out, &mut blocks[..needed])
            .map_err(internal)
    })
}

/// Argon2id (version 0x13) with `params`.
fn argon2id(params: Argon2Config) -> Result<Argon2<'static>, PasswordError> {
    let p = Params::new(params.memory_kib, params.iterations, params.parallelism, None).map_err(internal)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, p))
}

/// A new PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) with a random salt.
fn hash_with(argon: &Argon2<'_>, password: &[u8]) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(internal)?;
    let mut out = [0u8; 32];
    argon2_into(argon, password, &salt, &mut out)?;
    let salt = SaltString::encode_b64(&salt).map_err(internal)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon.params()).map_err(internal)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(internal)?),
    };
    Ok(phc.to_string())
}

/// Called on a hashing thread as a password check starts: holds it at the tests'
/// gate when built with the `test-hooks` feature, and does nothing otherwise.
fn checking() {
    #[cfg(feature = "test-hooks")]
    super::gate::hold();
}

/// Checks `password` against a PHC string with the parameters recorded in it; the
/// final comparison is constant-time.
fn verify_with(password: &[u8], phc: &str) -> Result<bool, PasswordError> {
    let parsed = PasswordHash::new(phc).map_err(internal)?;
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(internal)?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(internal)?
        .unwrap_or_default();
    let params = Params::try_from(&parsed).map_err(internal)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(internal("stored hash lacks a salt or output"));
    };
    let mut salt_buf = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_buf).map_err(internal)?;
    let mut out = vec![0u8; expected.len()];
    argon2_into(&Argon2::new(algorithm, version, params), password, salt, &mut out)?;
    Ok(Output::new(&out).map_err(internal)? == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: Argon2Config = Argon2Config {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    #[tokio::test]
    async fn hash_and_verify() {
        let p = Passwords::new(CHEAP, 2).unwrap();
        let phc = p.hash(Secret::new("correct horse".into())).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(
            p.verify(Secret::new("correct horse".into()), Some(phc.clone()))
                .await
                .unwrap()
        );
        assert!(!p.verify(Secret::new("wrong".into()), Some(phc)).await.unwrap());
        assert!(!p.verify(Secret::new("anything".into()), None).await.unwrap());
    }

    #[test]
    fn hashes_are_standard_phc_that_the_reference_verifier_accepts() {
        use argon2::password_hash::PasswordVerifier;
        let argon = argon2id(CHEAP).unwrap();
        let phc = hash_with(&argon, b"pw").unwrap();
        let parsed = PasswordHash::new(&phc).unwrap();
        assert!(Argon2::default().verify_password(b"pw", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"other", &parsed).is_err());
        // And hashes made by the crate's own hasher verify here, whatever their params.
        let theirs = {
            use argon2::password_hash::PasswordHasher;
            let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
            let other = Argon2Config {
                memory_kib: 128,
                iterations: 2,
                parallelism: 2,
            };
            argon2id(other)
                .unwrap()
                .hash_password(b"pw", &salt)
                .unwrap()
                .to_string()
        };
        assert!(verify_with(b"pw", &theirs).unwrap());
        assert!(!verify_with(b"nope", &theirs).unwrap());
        assert!(verify_with(b"pw", "not a phc string").is_err());
    }

    #[tokio::test]
    async fn hashes_made_with_other_parameters_are_outdated() {
        let p = Passwords::new(CHEAP, 1).unwrap();
        let current = p.hash(Secret::new("pw".into())).await.unwrap();
        assert!(!p.is_outdated(&current));
        let stronger = Passwords::new(
            Argon2Config {
                memory_kib: 128,
                ..CHEAP
            },
            1,
        )
        .unwrap();
        assert!(stronger.is_outdated(&current));
        assert!(p.is_outdated("$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"));
        assert!(p.is_outdated("garbage"));
    }

    #[tokio::test]
    async fn full_queue_is_overloaded_not_unbounded() {
        let p = Passwords::new(CHEAP, 1).unwrap();
        // Hold every admission slot, as a flood would.
        let _held = Arc::clone(&p.admitted)
            .try_acquire_many_owned((1 + QUEUE_PER_WORKER) as u32)
            .unwrap();
        let asked = std::time::Instant::now();
        assert!(matches!(
            p.hash(Secret::new("pw".into())).await,
            Err(PasswordError::Overloaded)
        ));
        assert!(
            asked.elapsed() >= ADMISSION_WAIT,
            "refused only after waiting for a slot"
        );
    }

    #[test]
    fn a_thread_gives_its_argon2_memory_back() {
        let argon = argon2id(CHEAP).unwrap();
        hash_with(&argon, b"pw").unwrap();
        assert_eq!(held_blocks(), 64, "kept for the next hash");
        let reserved = BLOCKS.with_borrow(Vec::capacity) * Block::SIZE;
        assert!(
            reserved > 32 << 20,
            "in a mapping of its own, whatever glibc's threshold"
        );
        release_memory();
        assert_eq!(held_blocks(), 0);
        assert!(
            verify_with(b"pw", &hash_with(&argon, b"pw").unwrap()).unwrap(),
            "and grown again"
        );
    }

    #[tokio::test]
    async fn a_slot_that_frees_admits_a_waiting_caller() {
        let p = Passwords::new(CHEAP, 1).unwrap();
        let held = Arc::clone(&p.admitted)
            .try_acquire_many_owned((1 + QUEUE_PER_WORKER) as u32)
            .unwrap();
        let waiting = tokio::spawn({
            let p = p.clone();
            async move { p.hash(Secret::new("pw".into())).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        drop(held);
        assert!(waiting.await.unwrap().is_ok(), "admitted when a slot freed");
    }

    #[tokio::test]
    async fn an_abandoned_request_keeps_its_slot_until_its_job_is_dropped_unrun() {
        let p = Passwords::new(CHEAP, 1).unwrap();
        let ran = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        // Occupy the one worker until released.
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let busy = tokio::spawn({
            let p = p.clone();
            async move { p.run(move || Ok(wait.recv().is_ok())).await }
        });
        while p.queue_depth() < 1 {
            tokio::task::yield_now().await;
        }
        // Five callers queue a job and hang up.
        for _ in 0..5 {
            let ran = Arc::clone(&ran);
            let queued = p.run(move || {
                ran.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            });
            let _ = tokio::time::timeout(std::time::Duration::from_millis(5), queued).await;
        }
        assert_eq!(p.queue_depth(), 6, "abandoned jobs still hold their admission slots");
        release.send(()).unwrap();
        assert!(busy.await.unwrap().unwrap());
        while p.queue_depth() > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        assert_eq!(
            ran.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "no hashing for nobody"
        );
    }
}
