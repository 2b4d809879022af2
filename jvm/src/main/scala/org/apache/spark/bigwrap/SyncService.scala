package org.apache.spark.bigwrap

import java.nio.{ByteBuffer, ByteOrder}
import java.util.concurrent.ConcurrentHashMap

import scala.collection.mutable

import org.apache.spark.SparkEnv
import org.apache.spark.rpc.{RpcCallContext, RpcEndpointRef, RpcEnv, ThreadSafeRpcEndpoint}
import org.apache.spark.storage.{BlockId, BlockManagerId, StorageLevel, TestBlockId}
import org.apache.spark.util.RpcUtils
import org.apache.spark.util.io.ChunkedByteBuffer

/**
 * A synchronisation round of one training run: every task of the stage attempt arrives, then all
 * proceed. Rounds go through an RPC endpoint on the driver (~0.1 ms) instead of
 * BarrierTaskContext.barrier(), which sleeps in 1 s polls in Spark 3.5.
 */
final case class RoundKey(run: String, epoch: Int, attempt: Int, round: Long)

final case class Arrive(key: RoundKey, task: Int, lossSum: Double, count: Long, manager: BlockManagerId)

final case class Proceed(lossSum: Double, count: Long, managers: Array[BlockManagerId])

/**
 * Consecutive rounds' losses over all tasks (rounds key.round, key.round + 1, ...), from a run whose tasks
 * synchronise among themselves (one JVM).
 */
private final case class Report(key: RoundKey, lossSums: Array[Double], counts: Array[Long])

/** One of the run's tasks failed: release every task waiting in its rounds, so the stage can be retried. */
private final case class Abandon(run: String, reason: String)

/** What the driver does when a round completes (e.g. report an iteration's loss). */
trait RoundObserver {
  def roundComplete(key: RoundKey, lossSum: Double, count: Long): Unit
}

private final class SyncEndpoint(override val rpcEnv: RpcEnv) extends ThreadSafeRpcEndpoint {
  private final class Pending(tasks: Int) {
    val arrivals = new Array[Arrive](tasks)
    val callers = new Array[RpcCallContext](tasks)
    var arrived = 0
  }

  private val pending = mutable.HashMap[RoundKey, Pending]()

  override def receiveAndReply(context: RpcCallContext): PartialFunction[Any, Unit] = {
    case arrive: Arrive =>
      SyncService.run(arrive.key.run) match {
        case None => context.sendFailure(new IllegalStateException(s"training run ${arrive.key.run} is not active"))
        case Some((tasks, observer)) =>
          val round = pending.getOrElseUpdate(arrive.key, new Pending(tasks))
          if (round.callers(arrive.task) == null) round.arrived += 1
          round.arrivals(arrive.task) = arrive
          round.callers(arrive.task) = context
          if (round.arrived == tasks) {
            pending.remove(arrive.key)
            val reply = Proceed(round.arrivals.map(_.lossSum).sum, round.arrivals.map(_.count).sum,
              round.arrivals.map(_.manager))
            observer.roundComplete(arrive.key, reply.lossSum, reply.count)
            round.callers.foreach(_.reply(reply))
          }
      }
  }

  override def receive: PartialFunction[Any, Unit] = {
    case Report(key, lossSums, counts) => SyncService.run(key.run).foreach { case (_, observer) =>
      lossSums.indices.foreach(i => observer.roundComplete(key.copy(round = key.round + i), lossSums(i), counts(i)))
    }
    case Abandon(run, reason) => pending.keys.filter(_.run == run).toList.foreach { key =>
      pending.remove(key).foreach(_.callers.filter(_ != null).foreach(
        _.sendFailure(new IllegalStateException(s"training run $run: $reason"))))
    }
  }
}

object SyncService {
  val EndpointName = "bigwrap-sync"
  private val runs = new ConcurrentHashMap[String, (Int, RoundObserver)]()
  @volatile private var driverSide: Option[(RpcEnv, RpcEndpointRef)] = None
  @volatile private var taskSide: Option[(RpcEnv, RpcEndpointRef)] = None

  private[bigwrap] def run(id: String): Option[(Int, RoundObserver)] = Option(runs.get(id))

  /** On the driver: make rounds of `run` complete when `tasks` tasks have arrived. */
  def register(run: String, tasks: Int, observer: RoundObserver): Unit = synchronized {
    val env = SparkEnv.get.rpcEnv
    if (!driverSide.exists(_._1 eq env)) {
      driverSide = Some((env, env.setupEndpoint(EndpointName, new SyncEndpoint(env))))
    }
    runs.put(run, (tasks, observer))
  }

  def unregister(run: String): Unit = {
    runs.remove(run)
    abandon(run, "ended")
  }

  /** Fails every round of `run` that tasks are waiting in (they then end, freeing their slots). */
  def abandon(run: String, reason: String): Unit = driverSide.foreach(_._2.send(Abandon(run, reason)))

  private def driver: RpcEndpointRef = {
    val env = SparkEnv.get.rpcEnv
    taskSide.filter(_._1 eq env).map(_._2).getOrElse {
      val made = RpcUtils.makeDriverRef(EndpointName, SparkEnv.get.conf, env)
      taskSide = Some((env, made))
      made
    }
  }

  /** In a task: wait until every task of the stage attempt has arrived at `key`. */
  def arrive(key: RoundKey, task: Int, lossSum: Double, count: Long): Proceed =
    driver.askSync[Proceed](Arrive(key, task, lossSum, count, SparkEnv.get.blockManager.blockManagerId))

  /**
   * In a task: tells the driver that rounds key.round, key.round + 1, ... completed, with these losses, among
   * tasks that synchronised without it (no reply).
   */
  def report(key: RoundKey, lossSums: Array[Double], counts: Array[Long]): Unit =
    driver.send(Report(key, lossSums, counts))
}

/** Float slices as block-manager blocks, read locally or straight from the owning executor. */
object SliceBlocks {
  private def id(name: String): BlockId = TestBlockId(s"bigwrap_$name")

  def put(name: String, values: Array[Float], offset: Int, length: Int): Unit = {
    val buffer = ByteBuffer.allocate(length * 4).order(ByteOrder.LITTLE_ENDIAN)
    buffer.asFloatBuffer().put(values, offset, length)
    // tellMaster = false: readers know the owner from the sync round, so no master round trip.
    SparkEnv.get.blockManager.putBytes(id(name), new ChunkedByteBuffer(buffer), StorageLevel.MEMORY_ONLY_SER,
      tellMaster = false)
  }

  /** Reads block `name` of `owner` into `into[offset, offset+length)`, adding to it when `add`. */
  def read(name: String, owner: BlockManagerId, into: Array[Float], offset: Int, length: Int, add: Boolean): Unit = {
    val manager = SparkEnv.get.blockManager
    val blockId = id(name)
    def copy(bytes: ByteBuffer): Unit = {
      val floats = bytes.order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer()
      if (add) {
        var k = 0
        while (k < length) { into(offset + k) += floats.get(k); k += 1 }
      } else floats.get(into, offset, length)
    }
    if (owner == manager.blockManagerId) {
      val data = manager.getLocalBytes(blockId).getOrElse(
        throw new IllegalStateException(s"block $blockId is missing"))
      try copy(data.toByteBuffer()) finally manager.releaseLock(blockId, None)
    } else {
      val remote = manager.blockTransferService.fetchBlockSync(owner.host, owner.port, owner.executorId,
        blockId.name, null)
      try copy(remote.nioByteBuffer()) finally remote.release()
    }
  }

  def remove(name: String): Unit = SparkEnv.get.blockManager.removeBlock(id(name), tellMaster = false)
}
