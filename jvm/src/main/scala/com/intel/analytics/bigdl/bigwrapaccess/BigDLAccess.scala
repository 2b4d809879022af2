package com.intel.analytics.bigdl.bigwrapaccess

import com.intel.analytics.bigdl.dllib.nn.abstractnn.{AbstractModule, Activity}
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.utils.Engine

/** BigDL keeps these `private[bigdl]`; this package sits inside `bigdl` to reach them. */
object BigDLAccess {
  def nodeNumber: Int = Engine.nodeNumber()
  def coreNumber: Int = Engine.coreNumber()
  def engineType: String = Engine.getEngineType().toString

  /** All weights and all gradients of `module` as two flat tensors (compacting their storage once). */
  def flatParameters(module: AbstractModule[Activity, Activity, Float]): (Tensor[Float], Tensor[Float]) =
    module.getParameters()
}
