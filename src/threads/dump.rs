//! The live dump: every registered thread with its owner, state, spawn location and the cancel
//! state of the context that owns it, grouped by origin and nested in the owner tree
//! (service → pool → group → pipeline).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::time::{Duration, Instant};

use super::owner::Owner;
use super::state::State;
use super::{REGISTRY, ThreadInfo};

/// A snapshot of every registered thread and what it was doing, taken by [`dump`].
///
/// Its `Display` is the readable dump, grouped by origin (the thread on whose behalf the
/// threads run) and nested in the owner tree: a pool built inside a shutdown service is shown
/// inside it, a group run on the pool's worker inside the pool, a pipeline started in a group
/// task inside the group. Threads that work for no pool, group, pipeline or service are grouped
/// by their owner name. With the `serde` feature it serialises (e.g. to JSON): the threads,
/// each with the id of the owner it works for ([`ThreadDump::owned_by`]), and the owners, each
/// with its parent's id ([`OwnerDump::parent`]).
///
/// # Examples
///
/// ```
/// use homebound::threads;
///
/// let (tx, rx) = crossbeam_channel::bounded::<()>(0);
/// let h = threads::spawn("dumped", move || { let _ = rx.recv(); }).unwrap();
/// let dump = threads::dump();
/// assert!(dump.threads().iter().any(|t| t.owner() == "dumped"));
/// assert!(dump.to_string().contains("homebound-dumped-"));
/// drop(tx);
/// h.join().unwrap();
/// # threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Dump {
    threads: Vec<ThreadDump>,
    owners: Vec<OwnerDump>,
}

/// A pool, group, pipeline or shutdown service in a [`Dump`]: a node of the owner tree.
///
/// # Examples
///
/// ```
/// use homebound::{pool::Pool, threads};
///
/// let pool = Pool::builder().name("owner-demo").workers(1).build().unwrap();
/// let line = line!() - 1;
/// let dump = threads::dump();
/// let worker = dump.threads().iter().find(|t| t.owner() == "owner-demo").unwrap();
/// let owner = dump.owner(worker.owned_by().unwrap()).unwrap();
/// assert_eq!((owner.kind(), owner.name()), ("pool", "owner-demo"));
/// assert!(owner.location().contains(&format!(":{line}:"))); // the `build` call above
/// assert_eq!(owner.parent(), None); // built outside any pool, group, pipeline or service
/// pool.shutdown();
/// # threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct OwnerDump {
    id: u64,
    kind: &'static str,
    name: String,
    location: String,
    parent: Option<u64>,
}

impl OwnerDump {
    /// Its id in this process (creation order: a parent's id is below its children's).
    ///
    /// # Examples
    ///
    /// See [`OwnerDump`]; [`ThreadDump::owned_by`] holds such an id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// What it is: `"pool"`, `"group"`, `"pipeline"` or `"service"` (a shutdown service).
    ///
    /// # Examples
    ///
    /// See [`OwnerDump`].
    pub fn kind(&self) -> &str {
        self.kind
    }

    /// Its name: the pool's or group's name, a pipeline's stages (`"parse → sink"`), the
    /// service's name.
    ///
    /// # Examples
    ///
    /// See [`OwnerDump`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the user's code created it (`build`, `scope`, `run`, `collect`, `service`, ...),
    /// `file:line:column`.
    ///
    /// # Examples
    ///
    /// See [`OwnerDump`].
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The id of the owner it was created under: the owner of the thread that created it.
    ///
    /// # Examples
    ///
    /// See [`OwnerDump`].
    pub fn parent(&self) -> Option<u64> {
        self.parent
    }
}

impl fmt::Display for OwnerDump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} '{}' at {}", self.kind, self.name, self.location)
    }
}

/// One thread in a [`Dump`].
///
/// # Examples
///
/// ```
/// use homebound::threads::{self, State};
///
/// let h = threads::spawn("one", || ()).unwrap();
/// let line = line!() - 1;
/// let dump = threads::dump();
/// if let Some(t) = dump.threads().iter().find(|t| t.owner() == "one") {
///     assert!(t.location().ends_with(&format!(":{line}:9"))); // the spawn call above
/// }
/// h.join().unwrap();
/// # threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ThreadDump {
    name: String,
    owner: String,
    origin: String,
    location: String,
    age: Duration,
    daemon: bool,
    state: State,
    state_for: Duration,
    task: Option<RunningTask>,
    context: Option<ContextState>,
    owned_by: Option<u64>,
}

/// The task a thread runs, in a [`ThreadDump`]: also while the task waits (then the dump's
/// [`state`](ThreadDump::state) is the wait).
///
/// # Examples
///
/// ```
/// use homebound::{pool::Pool, threads};
///
/// let pool = Pool::builder().name("rt-demo").workers(1).build().unwrap();
/// let (tx, rx) = crossbeam_channel::bounded::<()>(0);
/// let (in_tx, in_task) = crossbeam_channel::bounded::<()>(1);
/// let h = pool.submit_named("export", move |ctx| {
///     in_tx.send(()).unwrap();
///     let _ = ctx.recv(&rx);
/// }).unwrap();
/// in_task.recv().unwrap();
/// let task = loop {
///     let dump = threads::dump();
///     let t = dump.threads().iter().find(|t| t.owner() == "rt-demo").unwrap();
///     if let Some(task) = t.task() { break task.clone(); }
/// };
/// assert_eq!(task.name(), Some("export"));
/// drop(tx);
/// h.join().unwrap();
/// pool.shutdown();
/// # threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RunningTask {
    name: Option<std::sync::Arc<str>>,
    running_for: Duration,
}

impl RunningTask {
    /// The task's name, if it was given one.
    ///
    /// # Examples
    ///
    /// See [`RunningTask`].
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// How long it had been running when the dump was taken.
    ///
    /// # Examples
    ///
    /// See [`RunningTask`]; `task.running_for()` is at most the thread's age.
    pub fn running_for(&self) -> Duration {
        self.running_for
    }
}

/// The cancel state of the context that owns a thread (a pool's, a group's, a pipeline's).
///
/// # Examples
///
/// ```
/// use homebound::threads::ContextState;
///
/// let cancelled = ContextState::Cancelled { cause: "shutdown".into() };
/// assert!(cancelled.is_cancelled());
/// assert_eq!(cancelled.to_string(), "cancelled: shutdown");
/// assert_eq!(ContextState::Live.to_string(), "live");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum ContextState {
    /// Not cancelled.
    Live,
    /// Cancelled, with its cause as text.
    Cancelled {
        /// The cause's `Display`.
        cause: String,
    },
}

impl ContextState {
    /// Whether the context was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!homebound::threads::ContextState::Live.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, ContextState::Cancelled { .. })
    }
}

impl fmt::Display for ContextState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContextState::Live => f.write_str("live"),
            ContextState::Cancelled { cause } => write!(f, "cancelled: {cause}"),
        }
    }
}

impl ThreadDump {
    /// The thread's name, `homebound-<owner>-<n>`.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = homebound::threads::spawn("named", || ()).unwrap();
    /// let dump = homebound::threads::dump();
    /// if let Some(t) = dump.threads().iter().find(|t| t.owner() == "named") {
    ///     assert!(t.name().starts_with("homebound-named-"));
    /// }
    /// h.join().unwrap();
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its owner: a pool's, group's or stage's name, or what was given to
    /// [`spawn`](super::spawn).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = crossbeam_channel::bounded::<()>(0);
    /// let h = homebound::threads::spawn("owned", move || { let _ = rx.recv(); }).unwrap();
    /// assert!(homebound::threads::dump().threads().iter().any(|t| t.owner() == "owned"));
    /// drop(tx);
    /// h.join().unwrap();
    /// ```
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The thread on whose behalf it runs (the one whose leak check counts it), as
    /// `name (ThreadId(n))` when its name is known.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = crossbeam_channel::bounded::<()>(0);
    /// let h = homebound::threads::spawn("o", move || { let _ = rx.recv(); }).unwrap();
    /// let dump = homebound::threads::dump();
    /// let t = dump.threads().iter().find(|t| t.owner() == "o").unwrap();
    /// assert!(t.origin().contains(&format!("{:?}", std::thread::current().id())));
    /// drop(tx);
    /// h.join().unwrap();
    /// ```
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Where it was spawned, `file:line:column`.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = crossbeam_channel::bounded::<()>(0);
    /// let h = homebound::threads::spawn("loc", move || { let _ = rx.recv(); }).unwrap();
    /// let dump = homebound::threads::dump();
    /// let t = dump.threads().iter().find(|t| t.owner() == "loc").unwrap();
    /// assert!(t.location().contains(".rs:"));
    /// drop(tx);
    /// h.join().unwrap();
    /// ```
    pub fn location(&self) -> &str {
        &self.location
    }

    /// How long it had been alive when the dump was taken.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = crossbeam_channel::bounded::<()>(0);
    /// let h = homebound::threads::spawn("aged", move || { let _ = rx.recv(); }).unwrap();
    /// let dump = homebound::threads::dump();
    /// let t = dump.threads().iter().find(|t| t.owner() == "aged").unwrap();
    /// assert!(t.age() < std::time::Duration::from_secs(60));
    /// drop(tx);
    /// h.join().unwrap();
    /// ```
    pub fn age(&self) -> Duration {
        self.age
    }

    /// Whether it is one of homebound's process-wide helpers (timer, callback runner).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = crossbeam_channel::bounded::<()>(0);
    /// let h = homebound::threads::spawn("mine", move || { let _ = rx.recv(); }).unwrap();
    /// let dump = homebound::threads::dump();
    /// assert!(!dump.threads().iter().find(|t| t.owner() == "mine").unwrap().is_daemon());
    /// drop(tx);
    /// h.join().unwrap();
    /// ```
    pub fn is_daemon(&self) -> bool {
        self.daemon
    }

    /// What it was doing.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::threads::{self, State};
    ///
    /// let h = threads::spawn("fresh", || ()).unwrap();
    /// let dump = threads::dump();
    /// if let Some(t) = dump.threads().iter().find(|t| t.owner() == "fresh") {
    ///     assert_eq!(t.state(), &State::Working); // its own code: not in a known wait
    /// }
    /// h.join().unwrap();
    /// ```
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The task it runs, if any: also while that task waits (in `ctx.recv`, a `submit`, ...).
    ///
    /// # Examples
    ///
    /// ```
    /// let h = homebound::threads::spawn("no-task", || ()).unwrap();
    /// let dump = homebound::threads::dump();
    /// if let Some(t) = dump.threads().iter().find(|t| t.owner() == "no-task") {
    ///     assert!(t.task().is_none()); // a plain thread runs no pool or group task
    /// }
    /// h.join().unwrap();
    /// ```
    pub fn task(&self) -> Option<&RunningTask> {
        self.task.as_ref()
    }

    /// How long it had been in that state.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = crossbeam_channel::bounded::<()>(0);
    /// let h = homebound::threads::spawn("since", move || { let _ = rx.recv(); }).unwrap();
    /// let dump = homebound::threads::dump();
    /// let t = dump.threads().iter().find(|t| t.owner() == "since").unwrap();
    /// assert!(t.state_for() <= t.age() + std::time::Duration::from_millis(1));
    /// drop(tx);
    /// h.join().unwrap();
    /// ```
    pub fn state_for(&self) -> Duration {
        self.state_for
    }

    /// The cancel state of the context that owns it; `None` for threads started without one
    /// (plain [`spawn`](super::spawn), homebound's helpers).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pool::Pool, threads};
    ///
    /// let pool = Pool::builder().name("ctx-demo").workers(1).build().unwrap();
    /// let dump = threads::dump();
    /// let worker = dump.threads().iter().find(|t| t.owner() == "ctx-demo").unwrap();
    /// assert_eq!(worker.context(), Some(&threads::ContextState::Live));
    /// pool.shutdown();
    /// # threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn context(&self) -> Option<&ContextState> {
        self.context.as_ref()
    }

    /// The id of the pool, group, pipeline or service it works for (see [`Dump::owner`]);
    /// `None` for a thread started outside all of them.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{pool::Pool, threads};
    ///
    /// let pool = Pool::builder().name("owned-by").workers(1).build().unwrap();
    /// let dump = threads::dump();
    /// let worker = dump.threads().iter().find(|t| t.owner() == "owned-by").unwrap();
    /// assert_eq!(dump.owner(worker.owned_by().unwrap()).unwrap().name(), "owned-by");
    /// pool.shutdown();
    /// # threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn owned_by(&self) -> Option<u64> {
        self.owned_by
    }
}

impl fmt::Display for ThreadDump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.name)?;
        match &self.task {
            Some(task) if !self.state.is_running() => {
                match &task.name {
                    Some(name) => write!(f, "running task '{name}'")?,
                    None => f.write_str("running a task")?,
                }
                write!(f, " for {:.3?}, ", task.running_for)?;
            }
            _ => {}
        }
        write!(f, "{} for {:.3?}", self.state, self.state_for)?;
        if let Some(ctx) = &self.context {
            write!(f, "; context {ctx}")?;
        }
        write!(f, " (spawned at {}, alive {:.3?})", self.location, self.age)
    }
}

impl Dump {
    /// Every thread in the dump, in registration order (oldest first).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = crossbeam_channel::bounded::<()>(0);
    /// let h = homebound::threads::spawn("listed", move || { let _ = rx.recv(); }).unwrap();
    /// assert!(homebound::threads::dump().threads().iter().any(|t| t.owner() == "listed"));
    /// drop(tx);
    /// h.join().unwrap();
    /// ```
    pub fn threads(&self) -> &[ThreadDump] {
        &self.threads
    }

    /// Every owner some thread in the dump works for, with their ancestors, oldest first.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{pool::Pool, threads};
    ///
    /// let pool = Pool::builder().name("owners").workers(1).build().unwrap();
    /// assert!(threads::dump().owners().iter().any(|o| o.name() == "owners"));
    /// pool.shutdown();
    /// # threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn owners(&self) -> &[OwnerDump] {
        &self.owners
    }

    /// The owner with this id, if it is in the dump.
    ///
    /// # Examples
    ///
    /// See [`OwnerDump`].
    pub fn owner(&self, id: u64) -> Option<&OwnerDump> {
        self.owners.iter().find(|o| o.id == id)
    }

    /// The chain of owners a thread works for, outermost first (a service, the pool built in
    /// it, the group run on that pool, ...); empty for a thread that works for none.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{pool::Pool, threads};
    ///
    /// let pool = Pool::builder().name("path").workers(1).build().unwrap();
    /// let dump = threads::dump();
    /// let worker = dump.threads().iter().find(|t| t.owner() == "path").unwrap();
    /// let path: Vec<&str> = dump.owner_path(worker).iter().map(|o| o.name()).collect();
    /// assert_eq!(path, ["path"]);
    /// pool.shutdown();
    /// # threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn owner_path(&self, thread: &ThreadDump) -> Vec<&OwnerDump> {
        let mut path = Vec::new();
        let mut next = thread.owned_by;
        while let Some(owner) = next.and_then(|id| self.owner(id)) {
            path.push(owner);
            next = owner.parent;
        }
        path.reverse();
        path
    }

    /// Writes the owners under `parent` (`None`: the roots) that `shown` holds, each followed by
    /// its threads of `origin` and its own children, indented by depth.
    fn write_owners(
        &self,
        f: &mut fmt::Formatter<'_>,
        origin: &str,
        shown: &BTreeSet<u64>,
        parent: Option<u64>,
        depth: usize,
    ) -> fmt::Result {
        let pad = "  ".repeat(depth + 1);
        for owner in self
            .owners
            .iter()
            .filter(|o| o.parent == parent && shown.contains(&o.id))
        {
            let threads: Vec<&ThreadDump> = self
                .threads
                .iter()
                .filter(|t| !t.daemon && t.origin == origin && t.owned_by == Some(owner.id))
                .collect();
            writeln!(f, "{pad}{owner} ({} thread(s)):", threads.len())?;
            for t in threads {
                writeln!(f, "{pad}  {t}")?;
            }
            self.write_owners(f, origin, shown, Some(owner.id), depth + 1)?;
        }
        Ok(())
    }
}

/// What one origin's part of the readable dump shows: the owners (with their ancestors) its
/// threads work for, and its threads that work for none, by owner name.
type OriginView<'a> = (BTreeSet<u64>, BTreeMap<&'a str, Vec<&'a ThreadDump>>);

impl fmt::Display for Dump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let daemons = self.threads.iter().filter(|t| t.daemon).count();
        writeln!(
            f,
            "homebound threads: {} ({} of them homebound's own helpers)",
            self.threads.len(),
            daemons
        )?;
        // Per origin: the owner tree (the owners its threads work for, with their ancestors),
        // then the threads that work for none, by owner name; registration order within each.
        let mut origins: BTreeMap<&str, OriginView<'_>> = BTreeMap::new();
        for t in self.threads.iter().filter(|t| !t.daemon) {
            let (shown, loose) = origins.entry(&t.origin).or_default();
            match t.owned_by {
                Some(id) => {
                    let mut next = Some(id);
                    while let Some(id) = next.filter(|id| shown.insert(*id)) {
                        next = self.owner(id).and_then(|o| o.parent);
                    }
                }
                None => loose.entry(&t.owner).or_default().push(t),
            }
        }
        for (origin, (shown, loose)) in &origins {
            writeln!(f, "on behalf of {origin}:")?;
            self.write_owners(f, origin, shown, None, 0)?;
            for (owner, threads) in loose {
                writeln!(f, "  {owner} ({} thread(s)):", threads.len())?;
                for t in threads {
                    writeln!(f, "    {t}")?;
                }
            }
        }
        if daemons > 0 {
            writeln!(f, "homebound's helpers:")?;
            for t in self.threads.iter().filter(|t| t.daemon) {
                writeln!(f, "    {t}")?;
            }
        }
        Ok(())
    }
}

/// Every registered thread now, with what it is doing: its owner, state (idle; running a task,
/// with its name, for how long; blocked in `submit`; waiting in `ctx.recv`, `ctx.sleep` or
/// `WaitGroup::wait`; in a cancel callback), spawn location and its owning context's cancel
/// state. Display it for the readable dump; nothing is stopped or slowed while it is taken.
///
/// # Examples
///
/// ```
/// use homebound::{pool::Pool, threads};
///
/// let pool = Pool::builder().name("dump-demo").workers(2).build().unwrap();
/// let text = threads::dump().to_string();
/// assert!(text.contains("pool 'dump-demo' at "));
/// assert!(text.contains("(2 thread(s)):"));
/// println!("{text}");
/// pool.shutdown();
/// # threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
pub fn dump() -> Dump {
    // Copies under the lock; everything that may run user code (a cause's Display) after it.
    let infos: Vec<ThreadInfo> = REGISTRY.lock().values().cloned().collect();
    let now = Instant::now();
    let mut owners: BTreeMap<u64, OwnerDump> = BTreeMap::new();
    for info in &infos {
        let mut next: Option<&Owner> = info.member_of.as_ref();
        while let Some(owner) = next.filter(|o| !owners.contains_key(&o.id())) {
            owners.insert(
                owner.id(),
                OwnerDump {
                    id: owner.id(),
                    kind: owner.kind(),
                    name: owner.name().to_string(),
                    location: owner.location().to_string(),
                    parent: owner.parent().map(Owner::id),
                },
            );
            next = owner.parent();
        }
    }
    let threads = infos
        .into_iter()
        .map(|info| {
            let (state, since, task) = info.slot.read();
            let task = task.map(|(name, at)| RunningTask {
                name,
                running_for: now.saturating_duration_since(at),
            });
            let context = info.slot.context.get().map(|ctx| match ctx.cause() {
                None => ContextState::Live,
                Some(cause) => ContextState::Cancelled {
                    cause: cause.to_string(),
                },
            });
            ThreadDump {
                origin: match &info.origin_name {
                    Some(name) => format!("'{name}' ({:?})", info.origin),
                    None => format!("{:?}", info.origin),
                },
                location: info.location.to_string(),
                age: now.saturating_duration_since(info.started),
                daemon: info.daemon,
                state,
                state_for: now.saturating_duration_since(since),
                task,
                context,
                owned_by: info.member_of.as_ref().map(Owner::id),
                name: info.name,
                owner: info.owner,
            }
        })
        .collect();
    Dump {
        threads,
        owners: owners.into_values().collect(),
    }
}

/// Writes the readable [`dump`] to `out` (an admin endpoint's response, a log file, stderr).
///
/// # Errors
///
/// The writer's error.
///
/// # Examples
///
/// ```
/// let (tx, rx) = crossbeam_channel::bounded::<()>(0);
/// let h = homebound::threads::spawn("to-writer", move || { let _ = rx.recv(); }).unwrap();
/// let mut out = Vec::new();
/// homebound::threads::dump_to(&mut out).unwrap();
/// assert!(String::from_utf8(out).unwrap().contains("to-writer"));
/// drop(tx);
/// h.join().unwrap();
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
pub fn dump_to(mut out: impl io::Write) -> io::Result<()> {
    let text = dump().to_string();
    out.write_all(text.as_bytes())?;
    out.flush()
}
