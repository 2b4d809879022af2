package bigwrap.train

import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.locks.ReentrantLock

import com.intel.analytics.bigdl.dllib.tensor.{Storage, Tensor}
import org.apache.spark.{BarrierTaskContext, TaskKilledException}
import org.apache.spark.bigwrap.{RoundKey, SliceBlocks, SyncService}
import org.apache.spark.storage.BlockManagerId

/**
 * One task's part in each iteration's gradient reduce-scatter and weight all-gather over the flat parameter
 * vector, where task t owns slice [bounds(t), bounds(t + 1)). Tasks in the same executor JVM read each
 * other's gradient and weight arrays in place (no copies, no blocks). Between executors it is hierarchical,
 * as Horovod and NCCL are within a node: an executor sums its tasks' gradients for another executor's slices
 * before one block per slice crosses, and fetches each other executor's updated slice once for all its
 * tasks, the work spread over its tasks ("carriers"). One synchronisation round per iteration: all gradients
 * ready (an in-JVM barrier of microseconds when every task shares one JVM, which then only tells the driver
 * the iteration's loss, one way; else the driver's RPC round, as cross-executor reads need the blocks to
 * exist). Updated weight slices need no round within a JVM: each task publishes its slices' version and
 * readers wait for that task alone. Between executors a second driver round still orders the weight blocks
 * (an executor's RpcEnv is client-only, so the block manager is the one executor-to-executor channel, and its
 * reads cannot wait for a block to appear).
 */
private[train] final class SliceExchange(key: RoundKey, task: Int, bounds: IndexedSeq[Int],
    managers: Array[BlockManagerId], gradients: Array[Float], gradientOffset: Int, weights: Array[Float],
    weightOffset: Int, context: BarrierTaskContext) {
  private val tasks = managers.length
  private val local = SliceExchange.inJvmOf(task, managers)
  private val remote = (0 until tasks).filterNot(local.contains)
  /** The task naming each executor's blocks: its first. */
  private val leader = local.head
  private val otherLeaders = remote.groupBy(managers(_)).values.map(_.min).toIndexedSeq.sorted
  /** The local task that carries remote slice t across: sums its gradient out, fetches its weights in. */
  private def carrier(t: Int): Int = local(remote.indexOf(t) % local.length)
  /** Per local task, the remote slices it carries (fixed for the epoch, so worked out once). */
  private val carriedBy = local.map(s => s -> remote.filter(carrier(_) == s)).toMap
  private val carried = carriedBy(task)
  private val outgoing = new Array[Float]((0 +: carried.map(length)).max)
  /** Between executors: this task's slice summed over the other executors' rows, as it crossed. */
  private val crossed = if (remote.isEmpty) null else new Array[Float](length(task))
  private val group = LocalGroups.join(key, local.length)
  group.register(task, gradients, gradientOffset, weights, weightOffset)
  private val prefix = s"${key.run}_${key.epoch}_${key.attempt}"
  /** The leader's reports of each iteration's loss to the driver (when the driver takes no part in the rounds). */
  private val losses = new LossReports(key)
  private def start(t: Int) = bounds(t)
  private def length(t: Int) = bounds(t + 1) - bounds(t)
  /** Read at the first round, once every local task has registered its arrays. */
  private lazy val parts = {
    val (arrays, offsets) = local.map(t => group.gradient(t)).map { case (g, offset) => (g, offset + start(task)) }.unzip
    new GradientParts((arrays ++ Option(crossed)).toArray, (offsets ++ Option(crossed).map(_ => 0)).toArray,
      length(task))
  }

  /** Iteration `iteration`'s round: every task's gradients are ready. Returns the loss sum and row count. */
  private def gradientsReady(iteration: Int, lossSum: Double, count: Long): (Double, Long) = {
    val round = SliceExchange.gradientRound(iteration)
    if (remote.isEmpty) {
      val sums = group.await(task, lossSum, count, context)
      if (task == leader) losses.add(round, sums._1, sums._2)
      sums
    } else {
      val proceed = SyncService.arrive(key.copy(round = round), task, lossSum, count)
      (proceed.lossSum, proceed.count)
    }
  }

  /**
   * After this task's backward pass (its gradients the mean over its `count` rows): this task's slice of the
   * iteration's gradient over all tasks' rows, as parts the step sums. Returns the iteration's loss sum and row
   * count over all tasks, and the parts (theirs until this task's next iteration).
   */
  def reduceScatter(iteration: Int, lossSum: Double, count: Long, clock: PhaseClock): (Double, Long, GradientParts) = {
    if (remote.nonEmpty) {
      clock("sync")(group.await(task, 0, count, context)) // this executor's gradients are all ready
      clock("exchange") {
        for (t <- carried) {
          java.util.Arrays.fill(outgoing, 0, length(t), 0f)
          for (s <- local) group.addGradient(s, start(t), outgoing, length(t), group.rows(s).toFloat)
          SliceBlocks.put(s"${prefix}_g_${iteration}_${leader}_$t", outgoing, 0, length(t))
        }
      }
    }
    val (loss, total) = clock("sync")(gradientsReady(iteration, lossSum, count))
    clock("exchange") {
      if (iteration > 0 && remote.nonEmpty) SliceBlocks.remove(s"${prefix}_w_${iteration - 1}_$task")
      for ((e, i) <- otherLeaders.zipWithIndex) { // the first block overwrites the last iteration's sum
        SliceBlocks.read(s"${prefix}_g_${iteration}_${e}_$task", managers(e), crossed, 0, length(task), add = i > 0)
      }
    }
    for (p <- local.indices) parts.scales(p) = group.rows(local(p)).toFloat / total
    if (remote.nonEmpty) parts.scales(local.length) = 1f / total
    (loss, total, parts)
  }

  /** After this task updated its weight slice: every other task's updated slice, into this task's weights. */
  def allGather(iteration: Int, clock: PhaseClock): Unit = {
    if (remote.nonEmpty) {
      clock("exchange")(SliceBlocks.put(s"${prefix}_w_${iteration}_$task", weights, weightOffset + start(task),
        length(task)))
      clock("sync")(SyncService.arrive(key.copy(round = SliceExchange.weightRound(iteration)), task, 0, 0))
      clock("exchange") {
        for (t <- carried) {
          SliceBlocks.remove(s"${prefix}_g_${iteration}_${leader}_$t")
          SliceBlocks.read(s"${prefix}_w_${iteration}_$t", managers(t), weights, weightOffset + start(t), length(t),
            add = false)
        }
      }
    }
    group.publishWeights(task, iteration) // its own slice and the remote ones it carried
    for (t <- local if t != task) {
      clock("sync")(group.awaitWeights(t, iteration, context))
      clock("exchange") {
        for (s <- t +: carriedBy(t)) group.copyWeights(t, start(s), length(s), weights, weightOffset)
      }
    }
  }

  /** After the last iteration, before the epoch's final round: the driver has every iteration's loss. */
  def reportLosses(): Unit = losses.flush()

  /** After the last iteration, once every task has read this one's blocks: frees them. */
  def finish(iterations: Int): Unit =
    if (remote.nonEmpty) SliceBlocks.remove(s"${prefix}_w_${iterations - 1}_$task")

  /** When the task ends, however it ends: the JVM forgets the group once all its tasks have left. */
  def close(): Unit = LocalGroups.leave(key, task)
}

/** Wall time per phase of a task's iterations: where synchronous SGD spends its time. */
private[train] final class PhaseClock {
  private val nanos = scala.collection.mutable.Map[String, Long]().withDefaultValue(0L)

  def apply[A](phase: String)(body: => A): A = {
    val start = System.nanoTime()
    try body finally nanos(phase) += System.nanoTime() - start
  }

  def totals: Map[String, Long] = Seq("compute", "feed", "exchange", "update", "sync").map(p => p -> nanos(p)).toMap
}

/**
 * The tasks of one stage attempt that run in this JVM: their arrays, read in place by each other, and a
 * reusable barrier that also sums their losses and row counts.
 */
private final class LocalGroup(val size: Int) {
  private val gradients = new ConcurrentHashMap[Int, (Array[Float], Int)]()
  private val weights = new ConcurrentHashMap[Int, (Array[Float], Int)]()
  /** Per task, its rows in the iteration the group last passed (written before the generation moves). */
  private val taskRows = new ConcurrentHashMap[Int, Long]()
  private val lock = new ReentrantLock()
  private val passed = lock.newCondition()
  private var arrived = 0
  /** Volatile: a spinning waiter reads it without the lock (and then the sums written before it moved). */
  @volatile private var generation = 0L
  private var lossSum, lastLossSum = 0.0
  private var count, lastCount = 0L
  /** Per task: 1 + the last iteration whose updated weight slice it published (0: none yet). */
  private val published = new ConcurrentHashMap[Int, Long]()
  /** Tasks that ended: the last one to leave removes the group. */
  val left = new java.util.concurrent.atomic.AtomicInteger()

  def register(task: Int, g: Array[Float], gOffset: Int, w: Array[Float], wOffset: Int): Unit = {
    gradients.put(task, (g, gOffset))
    weights.put(task, (w, wOffset))
  }

  /** Task `t`'s gradient array and the offset of its first value. */
  def gradient(t: Int): (Array[Float], Int) = gradients.get(t)

  /** Task `t`'s rows in the iteration the group last passed. */
  def rows(t: Int): Long = taskRows.get(t)

  /** Adds `scale` times task `t`'s gradient values [from, from + length) to `into`'s first `length`. */
  def addGradient(t: Int, from: Int, into: Array[Float], length: Int, scale: Float): Unit = {
    val (g, offset) = gradients.get(t)
    val base = offset + from
    var k = 0
    while (k < length) { into(k) += scale * g(base + k); k += 1 }
  }

  /** Task t's weights [from, from + length) into `into`; nothing to do where both are one array (SharedWeights). */
  def copyWeights(t: Int, from: Int, length: Int, into: Array[Float], intoOffset: Int): Unit = {
    val (w, offset) = weights.get(t)
    if (!((w eq into) && offset == intoOffset)) System.arraycopy(w, offset + from, into, intoOffset + from, length)
  }

  def publishWeights(task: Int, iteration: Int): Unit = {
    lock.lock()
    try { published.put(task, iteration + 1L); passed.signalAll() } finally lock.unlock()
  }

  /** Waits until task `t` published its weight slice of `iteration` (or the stage was cancelled). */
  def awaitWeights(t: Int, iteration: Int, context: BarrierTaskContext): Unit =
    waitUntil(published.getOrDefault(t, 0L) > iteration, context)

  /**
   * Waits until `ready`, unless the task was killed. Tasks of one iteration usually meet within microseconds
   * of each other, sooner than a parked thread wakes, so it spins (without the lock) up to 100 µs first, then
   * parks until a signalAll.
   */
  private def waitUntil(ready: => Boolean, context: BarrierTaskContext): Unit = {
    val spinDeadline = System.nanoTime() + 100000L
    while (!ready && System.nanoTime() < spinDeadline) Thread.onSpinWait()
    if (!ready) {
      lock.lock()
      try {
        while (!ready) {
          if (context.isInterrupted()) throw new TaskKilledException("the barrier stage was cancelled")
          passed.awaitNanos(50000000L)
        }
      } finally lock.unlock()
    }
  }

  /**
   * Waits until all `size` tasks arrived; returns their summed loss and count. A killed task (its stage
   * failed) stops waiting, so a failed attempt never holds the slots its retry needs.
   */
  def await(task: Int, loss: Double, rows: Long, context: BarrierTaskContext): (Double, Long) = {
    lock.lock()
    val mine = generation
    val last = try {
      taskRows.put(task, rows)
      lossSum += loss
      count += rows
      arrived += 1
      if (arrived == size) {
        lastLossSum = lossSum
        lastCount = count
        lossSum = 0
        count = 0
        arrived = 0
        generation += 1
        passed.signalAll()
      }
      arrived == 0
    } finally lock.unlock()
    if (!last) waitUntil(generation != mine, context)
    (lastLossSum, lastCount) // kept until this task arrives again, so safe to read once the generation moved
  }
}

private[train] object SliceExchange {
  /** The tasks in task `task`'s executor JVM (itself included), in task order; `managers`: each task's executor. */
  def inJvmOf(task: Int, managers: Array[BlockManagerId]): IndexedSeq[Int] =
    managers.indices.filter(managers(_) == managers(task))

  /** Round 0 says hello; round i + 1 is iteration i's gradient round; the last ends the epoch. */
  def gradientRound(iteration: Int): Long = iteration + 1L
  /** Between executors only: iteration i's weight blocks exist (negative: never an iteration's loss). */
  def weightRound(iteration: Int): Long = -1L - iteration
  def finalRound(iterations: Int): Long = iterations + 1L
}

/**
 * Iteration losses on their way to the driver, sent together about every ReportNanos rather than one message per
 * iteration: each message wakes a driver thread, and in local mode (or an executor beside the driver) that thread
 * takes a core from a task for a moment, which the other tasks then wait for at the next barrier.
 */
private final class LossReports(key: RoundKey) {
  private val lossSums = scala.collection.mutable.ArrayBuffer[Double]()
  private val counts = scala.collection.mutable.ArrayBuffer[Long]()
  private var first = 0L
  private var sentAt = System.nanoTime()

  def add(round: Long, lossSum: Double, count: Long): Unit = {
    if (lossSums.isEmpty) first = round
    lossSums += lossSum
    counts += count
    if (System.nanoTime() - sentAt >= LossReports.ReportNanos) flush()
  }

  def flush(): Unit = if (lossSums.nonEmpty) {
    SyncService.report(key.copy(round = first), lossSums.toArray, counts.toArray)
    lossSums.clear()
    counts.clear()
    sentAt = System.nanoTime()
  }
}

private object LossReports {
  /** The live progress and TensorBoard hear of iterations at most this late. */
  val ReportNanos: Long = 100000000L
}

private object LocalGroups {
  private val groups = new ConcurrentHashMap[RoundKey, LocalGroup]()

  def join(key: RoundKey, size: Int): LocalGroup = groups.computeIfAbsent(key, _ => new LocalGroup(size))

  def leave(key: RoundKey, task: Int): Unit = Option(groups.get(key)).foreach { group =>
    if (group.left.incrementAndGet() == group.size) groups.remove(key)
  }
}

/**
 * The tasks of one stage attempt in one executor JVM train one copy of the weights: each task's model points at
 * its executor's first task's weight array (BigDL's ArrayStorage.set swaps the array under every tensor of the
 * flat storage, as getParameters compacted them). Each task still writes only its own slice, after the gradient
 * round, and reads the others' once they publish them (SliceExchange), so nothing is copied between them; an
 * executor holds one weight array instead of one per task.
 */
private[train] object SharedWeights {
  private final class Entry(val tasks: Int) {
    val storage = new java.util.concurrent.CompletableFuture[Storage[Float]]()
    val ended = new java.util.concurrent.atomic.AtomicInteger()
  }
  private val entries = new ConcurrentHashMap[RoundKey, Entry]()

  /** Before the task's first iteration of the stage; `managers`: each task's executor, from the hello round. */
  def adopt(key: RoundKey, task: Int, managers: Array[BlockManagerId], weights: Tensor[Float],
      context: BarrierTaskContext): Unit = {
    val local = SliceExchange.inJvmOf(task, managers)
    if (local.size > 1) {
      val entry = entries.computeIfAbsent(key, _ => new Entry(local.size))
      // forgotten once every local task has ended, however it ended (a failed attempt's too)
      context.addTaskCompletionListener[Unit] { _ =>
        if (entry.ended.incrementAndGet() == entry.tasks) entries.remove(key)
      }
      if (task == local.head) entry.storage.complete(weights.storage())
      else {
        val leader = awaitLeader(entry, context)
        require(leader.length() == weights.storage().length(), "tasks of one stage hold models of different sizes")
        weights.storage().set(leader)
      }
    }
  }

  private def awaitLeader(entry: Entry, context: BarrierTaskContext): Storage[Float] = {
    var leader = Option.empty[Storage[Float]]
    while (leader.isEmpty) {
      if (context.isInterrupted()) throw new TaskKilledException("the barrier stage was cancelled")
      try leader = Some(entry.storage.get(50, java.util.concurrent.TimeUnit.MILLISECONDS))
      catch { case _: java.util.concurrent.TimeoutException => }
    }
    leader.get
  }
}
