package bigwrap.train

import bigwrap.nn.{NativeConv2D, NativeLinear}
import com.intel.analytics.bigdl.dllib.nn.{Container, Graph}
import com.intel.analytics.bigdl.dllib.nn.abstractnn.{AbstractModule, Activity}
import com.intel.analytics.bigdl.dllib.utils.Node

/**
 * Training never reads the gradient with respect to the model's input rows, yet BigDL computes it: for the
 * first layers that is a whole backward-data pass (the MLP's 784x512 Dense: a third of its backward; LeNet's
 * first convolution likewise). As PyTorch leaves inputs without requires_grad, the trainer's own copy of the
 * model stops the gradient at the native Dense and Conv2D layers (and parameter-free ones) fed only by inputs,
 * directly or through parameter-free layers such as Reshape; their weight gradients are computed as before
 * (BigDL's Graph.stopGradient, which then calls accGradParameters alone: hence only modules known to need
 * nothing else, and never a sub-graph).
 */
private[train] object InputGradients {
  private type ModuleNode = Node[AbstractModule[Activity, Activity, Float]]

  /** A module BigDL runs by itself (no sub-graph, whose accGradParameters needs its own backward first). */
  private def leaf(module: AbstractModule[Activity, Activity, Float]): Boolean = !module.isInstanceOf[Container[_, _, _]]

  private def parameterFree(module: AbstractModule[Activity, Activity, Float]): Boolean =
    leaf(module) && Option(module.parameters()).forall(_._1.isEmpty)

  /** Modules known to accumulate their weight gradients from the output gradient alone. */
  private def accumulatesAlone(module: AbstractModule[Activity, Activity, Float]): Boolean =
    module.isInstanceOf[NativeLinear] || module.isInstanceOf[NativeConv2D] || parameterFree(module)

  def skip(model: AbstractModule[Activity, Activity, Float]): AbstractModule[Activity, Activity, Float] =
    model match {
      case graph: Graph[Float] @unchecked =>
        val inputs = graph.inputs.toSet
        val known = scala.collection.mutable.Map[ModuleNode, Boolean]()
        // whether nothing upstream of `node` (itself included) has weights: its input gradient is never needed
        def inputOnly(node: ModuleNode): Boolean = known.getOrElseUpdate(node, inputs.contains(node) ||
          (node.prevNodes.nonEmpty && parameterFree(node.element) && node.prevNodes.forall(inputOnly)))
        val stopped = scala.collection.mutable.LinkedHashSet[String]()
        // BigDL stops by name: a module called at several places (shared weights) keeps its gradients
        val calls = graph.getForwardExecutions.toSeq.groupBy(_.element.getName()).mapValues(_.length)
        def visit(node: ModuleNode): Unit = node.nextNodes.foreach { next =>
          val name = next.element.getName()
          if (calls.get(name).contains(1) && accumulatesAlone(next.element) && next.prevNodes.forall(inputOnly) &&
            stopped.add(name)) visit(next)
        }
        graph.inputs.foreach(visit)
        if (stopped.nonEmpty) graph.stopGradient(stopped.toArray)
        graph
      case other => other
    }
}
