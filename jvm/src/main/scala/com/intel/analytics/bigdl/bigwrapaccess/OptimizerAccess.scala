package com.intel.analytics.bigdl.bigwrapaccess

import com.intel.analytics.bigdl.dllib.optim.{DistriOptimizer, OptimMethod}
import com.intel.analytics.bigdl.dllib.utils.Table
import org.apache.spark.rdd.RDD

/**
 * DistriOptimizer keeps each parameter shard's optim method (with its history, e.g. Adam's moments)
 * in `previousOptim`, `private[bigdl]`, when `reserveOptim(true)`; bigwrap reads it to checkpoint the
 * optimizer state and sets it to resume one.
 */
object OptimizerAccess {
  /** The shard methods of the last optimize() in partition (= shard) order; empty before the first. */
  def shardMethods(optimizer: DistriOptimizer[Float]): Seq[OptimMethod[Float]] =
    Option(optimizer.previousOptim).map(_.collect().toSeq.map(_.values.head)).getOrElse(Nil)

  def setShardMethods(optimizer: DistriOptimizer[Float], methods: RDD[Map[String, OptimMethod[Float]]]): Unit =
    optimizer.previousOptim = methods.cache()

  /** An optim method's state table (hyper-parameters, counters, history), `private[bigdl]` in BigDL. */
  def state(method: OptimMethod[Float]): Table = method.state

  /** Makes `outer` (a method wrapping `inner`) read and write `inner`'s state table. */
  def shareState(outer: OptimMethod[Float], inner: OptimMethod[Float]): Unit = outer.state = inner.state

  def release(optimizer: DistriOptimizer[Float]): Unit = Option(optimizer.previousOptim).foreach(_.unpersist())
}
