//! Tessera's runtime: the only crate that names glommio. It starts one pinned
//! executor per shard, joins them in a channel mesh, runs cross-shard jobs and
//! locks (`dispatch`), and gives each shard its SO_REUSEPORT listener (`net`).
//! Time and randomness reach the shards through the small traits in `seam`,
//! so a seeded simulator can drive the same code later.

pub mod disk;
pub mod dispatch;
pub mod net;
mod readiness;
pub mod seam;
pub mod signal;
pub mod sync;

pub use dispatch::{Responder, Shard, TxId};

use glommio::channels::channel_mesh::MeshBuilder;
use glommio::{Latency, LocalExecutorBuilder, Placement, Shares};
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

/// Identifies a shard executor: 0..shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShardId(pub u16);

/// How the runtime lays out its executors.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    pub shards: usize,
    /// Pin executor i to the i-th allowed CPU (only when shards <= CPUs).
    pub pin: bool,
    /// Capacity of each mesh channel, in messages.
    pub mesh_channel_capacity: usize,
    /// Spin this long before parking an idle executor (0: never spin).
    pub spin_before_park_us: u64,
}

/// The CPUs this process may run on, in ascending order.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it for pid 0
    // (this thread) and we only read it back with CPU_ISSET.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
            .collect()
    }
}

/// Starts `config.shards` executors, each running `main` with its own
/// [`Shard`] handle (state built by `init` on that executor's thread), and
/// blocks until all of them return.
pub fn run<S, Init, Main, Fut>(config: RuntimeConfig, init: Init, main: Main) -> std::io::Result<()>
where
    S: 'static,
    Init: Fn(ShardId, usize) -> S + Send + Clone + 'static,
    Main: Fn(Rc<Shard<S>>) -> Fut + Send + Clone + 'static,
    Fut: Future<Output = ()> + 'static,
{
    assert!(config.shards >= 1 && config.shards <= 1024, "shards out of range");
    let cpus = allowed_cpus();
    let pin = config.pin && config.shards <= cpus.len();
    let mesh = MeshBuilder::<dispatch::Message<S>, _>::full(config.shards, config.mesh_channel_capacity);
    let mut handles = Vec::with_capacity(config.shards);
    for index in 0..config.shards {
        let placement = match cpus.get(index) {
            Some(&cpu) if pin => Placement::Fixed(cpu),
            _ => Placement::Unbound,
        };
        let mut builder = LocalExecutorBuilder::new(placement).name(&format!("shard-{index}"));
        if config.spin_before_park_us > 0 {
            builder = builder.spin_before_park(Duration::from_micros(config.spin_before_park_us));
        }
        let mesh = mesh.clone();
        let init = init.clone();
        let main = main.clone();
        let shards = config.shards;
        let handle = builder
            .spawn(move || async move {
                let id = ShardId(index as u16);
                let queue = glommio::executor().create_task_queue(
                    Shares::default(),
                    Latency::Matters(Duration::from_millis(1)),
                    "shard",
                );
                let shard = if shards > 1 {
                    let (senders, receivers) = mesh.join().await.expect("mesh join failed");
                    assert_eq!(senders.peer_id(), index, "mesh peer order differs from executor order");
                    let shard = Shard::new(id, shards, init(id, shards), Some(senders));
                    let receivers = Rc::new(receivers);
                    for peer in (0..shards).filter(|&peer| peer != index) {
                        glommio::spawn_local_into(shard.clone().receive_loop(receivers.clone(), peer), queue)
                            .expect("spawn receive loop")
                            .detach();
                        glommio::spawn_local_into(shard.clone().sender_loop(peer), queue)
                            .expect("spawn sender loop")
                            .detach();
                    }
                    shard
                } else {
                    drop(mesh);
                    Shard::new(id, shards, init(id, shards), None)
                };
                glommio::spawn_local_into(main(shard), queue)
                    .expect("spawn shard main")
                    .await;
            })
            .map_err(|error| std::io::Error::other(format!("cannot start shard {index}: {error}")))?;
        handles.push(handle);
    }
    for handle in handles {
        handle
            .join()
            .map_err(|error| std::io::Error::other(format!("shard executor failed: {error}")))?;
    }
    Ok(())
}

/// Spawns a task on the current shard's executor, detached.
pub fn spawn<F: Future<Output = ()> + 'static>(future: F) {
    glommio::spawn_local(future).detach();
}

/// Yields to other tasks if this one has run long enough.
pub async fn yield_if_needed() {
    glommio::yield_if_needed().await;
}

/// Yields to the other ready tasks of this executor once.
pub async fn yield_now() {
    futures_lite::future::yield_now().await;
}

/// Sleeps on the current executor.
pub async fn sleep(duration: Duration) {
    glommio::timer::sleep(duration).await;
}
