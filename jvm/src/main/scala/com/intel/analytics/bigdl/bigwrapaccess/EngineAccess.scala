package com.intel.analytics.bigdl.bigwrapaccess

import com.intel.analytics.bigdl.dllib.utils.Engine

/** BigDL keeps these `private[bigdl]`; this package sits inside `bigdl` to read them. */
object EngineAccess {
  def nodeNumber: Int = Engine.nodeNumber()
  def coreNumber: Int = Engine.coreNumber()
  def engineType: String = Engine.getEngineType().toString
}
