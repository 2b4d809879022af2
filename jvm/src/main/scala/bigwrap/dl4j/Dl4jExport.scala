package bigwrap.dl4j

import java.nio.charset.StandardCharsets
import java.util.zip.{ZipEntry, ZipOutputStream}

import scala.collection.mutable

import bigwrap.api.BigwrapException
import bigwrap.io.Storage
import bigwrap.spec.{ModelBuilder, WeightSet}
import org.json4s._
import org.json4s.jackson.JsonMethods

import Dl4jLayers.{Call, Layer, Preprocessor, Same, Vertex}

/**
 * A bigwrap model as a Deeplearning4j `ModelSerializer` zip (configuration.json + coefficients.bin), which DL4J
 * (1.0.0-M2.x) restores with `ModelSerializer.restoreMultiLayerNetwork` where the model is a chain of layers and
 * `restoreComputationGraph` otherwise. The one writer: Python's `Model.to_dl4j` and Scala's
 * `BigwrapModel.toDL4J` both come here. Layers DL4J cannot express are refused by name (Dl4jLayers).
 */
object Dl4jExport {
  /** One DL4J layer or vertex; `preprocessor`: the input preprocessor of a layer. */
  private final case class Node(name: String, converted: Dl4jLayers.Converted, inputs: Seq[String],
      preprocessor: Option[JObject] = None) {
    def isLayer: Boolean = converted.isInstanceOf[Layer]
    def params: Array[Float] = Some(converted).collect { case l: Layer => l.params }.getOrElse(Array.empty[Float])
  }

  // bigwrap loss → DL4J's loss class and, for losses on logits, the activation DL4J's output layer applies.
  private val Losses = Map("categorical_crossentropy" -> ("LossMCXENT", "Softmax"),
    "sparse_categorical_crossentropy" -> ("LossMCXENT", "Softmax"), "binary_crossentropy" -> ("LossBinaryXENT", "Sigmoid"),
    "mse" -> ("LossMSE", ""), "mae" -> ("LossL1", ""))

  /**
   * Writes the model of `specJson` with `weights` as a DL4J zip at `path` (any store, bigwrap.io.Storage; an existing file only with
   * `overwrite`). With `loss` (a bigwrap loss config, as a fitted model has), a last Dense layer becomes DL4J's
   * OutputLayer with that loss, so DL4J can go on training; a loss on logits then outputs probabilities, as the
   * fitted model's `probability` column does. Returns "MultiLayerNetwork" or "ComputationGraph".
   */
  def write(specJson: String, weights: WeightSet, loss: Option[JObject], path: String, overwrite: Boolean): String = {
    val target = Storage.resolve(path)
    BigwrapException.require(overwrite || !target.exists, s"$target already exists; pass overwrite=True " +
      "(Scala: overwrite = true) to replace it")
    val (kind, configuration, params) = convert(specJson, weights, loss)
    Storage.writeFile(target, (file: bigwrap.io.Location) => {
      val zip = new ZipOutputStream(file.fs.create(file.path, true))
      try {
        zip.putNextEntry(new ZipEntry("configuration.json"))
        zip.write(configuration.getBytes(StandardCharsets.UTF_8))
        zip.closeEntry()
        zip.putNextEntry(new ZipEntry("coefficients.bin"))
        Nd4jArrays.writeRow(params, zip)
        zip.closeEntry()
      } finally zip.close()
    })
    kind
  }

  /** (DL4J class, configuration JSON, flat parameters in DL4J's order). */
  private[dl4j] def convert(specJson: String, weights: WeightSet, loss: Option[JObject]): (String, String, Array[Float]) = {
    val built = ModelBuilder.build(specJson)
    val spec = built.spec
    val byLayer = weights.entries.groupBy(_.layer).map { case (layer, entries) =>
      layer -> entries.map(e => e.name -> (e.shape, weights.data.slice(e.offset.toInt, e.offset.toInt + e.size))).toMap
    }
    val nodes = mutable.ArrayBuffer[Node]()
    val inputs = mutable.ArrayBuffer[String]()
    val source = mutable.Map[String, String]()                  // spec tensor → the DL4J vertex holding it
    val pending = mutable.Map[String, (String, JObject)]()      // spec tensor → (vertex, preprocessor to apply)

    def realized(ref: String): String = pending.remove(ref) match {
      case Some((from, pre)) =>
        nodes += Node(ref, Vertex(JObject("@class" -> JString("org.deeplearning4j.nn.conf.graph.PreprocessorVertex"),
          "preProcessor" -> pre)), Seq(from))
        source(ref) = ref
        ref
      case None => source(ref)
    }

    spec.layers.foreach { layer =>
      if (layer.className == "InputLayer") {
        inputs += layer.name
        source(layer.name) = layer.name
      } else {
        BigwrapException.require(layer.inbound.size == 1, s"to_dl4j: layer '${layer.name}' is called " +
          s"${layer.inbound.size} times; a DL4J network has no shared layers")
        val refs = layer.inbound.head.refs
        val call = Call(layer, refs.map(built.tensorShapes), byLayer.getOrElse(layer.name, Map.empty))
        Dl4jLayers.convert(call) match {
          case Same => source(layer.name) = realized(refs.head)
          case Preprocessor(json) => pending(layer.name) = (realized(refs.head), json)
          case converted: Layer if refs.size == 1 && pending.contains(refs.head) =>
            val (from, pre) = pending(refs.head)   // each consuming layer preprocesses its own input
            nodes += Node(layer.name, converted, Seq(from), Some(pre))
            source(layer.name) = layer.name
          case converted =>
            nodes += Node(layer.name, converted, refs.map(realized))
            source(layer.name) = layer.name
        }
      }
    }
    val outputs = spec.outputs.map(realized)
    val withLoss = loss.fold(nodes.toList)(l => outputLayer(nodes.toList, outputs, l))
    val chain = inputs.size == 1 && outputs == Seq(withLoss.last.name) && withLoss.forall(_.isLayer) &&
      withLoss.zip(inputs.head +: withLoss.map(_.name)).forall { case (node, previous) => node.inputs == Seq(previous) }
    if (chain) ("MultiLayerNetwork", multiLayer(withLoss), withLoss.flatMap(_.params).toArray)
    else {
      val order = Dl4jGraph.parameterOrder(inputs, withLoss.map(n => n.name -> n.inputs))
      val byName = withLoss.map(n => n.name -> n).toMap
      ("ComputationGraph", graph(inputs, outputs, withLoss), order.flatMap(byName(_).params).toArray)
    }
  }

  /** The single output's Dense layer as DL4J's OutputLayer with the fitted loss (kept as is otherwise). */
  private def outputLayer(nodes: List[Node], outputs: Seq[String], loss: JObject): List[Node] = {
    val name = loss \ "name" match { case JString(s) => s; case _ => "" }
    val fromLogits = loss \ "from_logits" == JBool(true)
    (outputs, Losses.get(name)) match {
      case (Seq(out), Some((lossClass, logitsActivation))) => nodes.map {
        case node @ Node(`out`, Layer(json, params), _, _) if json \ "@class" == JString(
            "org.deeplearning4j.nn.conf.layers.DenseLayer") =>
          val activation = if (fromLogits && logitsActivation.nonEmpty) JObject("@class" -> JString(
            s"org.nd4j.linalg.activations.impl.Activation$logitsActivation")) else json \ "activationFn"
          val fields = json.obj.filterNot { case (k, _) => Set("@class", "activationFn", "hasLayerNorm")(k) }
          node.copy(converted = Layer(JObject(("@class" -> JString("org.deeplearning4j.nn.conf.layers.OutputLayer")) ::
            ("activationFn" -> activation) :: ("lossFn" -> JObject("@class" ->
              JString(s"org.nd4j.linalg.lossfunctions.impl.$lossClass"))) :: fields), params))
        case other => other
      }
      case _ => nodes
    }
  }

  // -- configuration JSON -----------------------------------------------------------------------------------------

  /** DL4J's NeuralNetConfiguration around one layer (or none, for a graph's defaults). */
  private def layerConf(layer: JValue): JObject = JObject("cacheMode" -> JString("NONE"), "dataType" -> JString("FLOAT"),
    "epochCount" -> JInt(0), "iterationCount" -> JInt(0), "layer" -> layer, "maxNumLineSearchIterations" -> JInt(5),
    "miniBatch" -> JBool(true), "minimize" -> JBool(true), "optimizationAlgo" -> JString("STOCHASTIC_GRADIENT_DESCENT"),
    "seed" -> JInt(12345), "stepFunction" -> JNull, "variables" -> JArray(Nil))

  private val Network = List("backpropType" -> JString("Standard"), "cacheMode" -> JString("NONE"),
    "dataType" -> JString("FLOAT"), "epochCount" -> JInt(0), "iterationCount" -> JInt(0),
    "inferenceWorkspaceMode" -> JString("ENABLED"), "trainingWorkspaceMode" -> JString("ENABLED"),
    "tbpttBackLength" -> JInt(20), "tbpttFwdLength" -> JInt(20), "validateOutputLayerConfig" -> JBool(true))

  private def json(node: Node): JObject = node.converted match {
    case Layer(layer, _) => layer
    case Vertex(vertex) => vertex
    case other => throw new IllegalStateException(s"no DL4J vertex for $other")
  }

  /** Keys in alphabetical order, as DL4J writes them: its setters read fields set before them (epochCount, confs). */
  private def alphabetical(value: JValue): JValue = value match {
    case JObject(fields) => JObject(fields.sortBy(_._1).map { case (k, v) => k -> alphabetical(v) })
    case JArray(items) => JArray(items.map(alphabetical))
    case other => other
  }

  private def render(value: JValue): String = JsonMethods.compact(alphabetical(value))

  private def multiLayer(nodes: List[Node]): String = render(JObject(Network ++ List(
    "confs" -> JArray(nodes.map(n => layerConf(json(n)))),
    "inputPreProcessors" -> JObject(nodes.zipWithIndex.collect { case (Node(_, _, _, Some(pre)), i) => i.toString -> pre }))))

  private def graph(inputs: Seq[String], outputs: Seq[String], nodes: List[Node]): String = {
    val vertices = nodes.map { node =>
      node.name -> (if (!node.isLayer) json(node) else JObject(
        "@class" -> JString("org.deeplearning4j.nn.conf.graph.LayerVertex"), "layerConf" -> layerConf(json(node)),
        "preProcessor" -> node.preprocessor.getOrElse(JNull), "outputVertex" -> JBool(false)))
    }
    render(JObject(Network ++ List(
      "defaultConfiguration" -> layerConf(JNull),
      "networkInputs" -> JArray(inputs.map(JString(_)).toList),
      "networkOutputs" -> JArray(outputs.map(JString(_)).toList),
      "topologicalOrder" -> JNull, "topologicalOrderStr" -> JNull,
      "vertexInputs" -> JObject(nodes.map(n => n.name -> JArray(n.inputs.map(JString(_)).toList))),
      "vertices" -> JObject(vertices))))
  }
}

/** The order of a ComputationGraph's flat parameters: DL4J's own topological sort of the configuration. */
private[dl4j] object Dl4jGraph {
  /**
   * DL4J numbers the network inputs, then the vertices in configuration order, and sorts them with Kahn's
   * algorithm (a FIFO queue, each vertex's successors by number); its flat parameters follow that order.
   */
  def parameterOrder(inputs: Seq[String], vertices: Seq[(String, Seq[String])]): Seq[String] = {
    val names = inputs ++ vertices.map(_._1)
    val index = names.zipWithIndex.toMap
    val waiting = mutable.Map(vertices.map { case (name, from) => index(name) -> mutable.Set(from.map(index): _*) }: _*)
    val successors = vertices.flatMap { case (name, from) => from.map(f => index(f) -> index(name)) }
      .groupBy(_._1).map { case (k, v) => k -> v.map(_._2).distinct.sorted }
    val queue = mutable.Queue[Int](inputs.indices ++ waiting.collect { case (v, from) if from.isEmpty => v }.toSeq.sorted: _*)
    val order = mutable.ArrayBuffer[Int]()
    while (queue.nonEmpty) {
      val current = queue.dequeue()
      order += current
      successors.getOrElse(current, Nil).foreach { next =>
        waiting(next) -= current
        if (waiting(next).isEmpty) queue.enqueue(next)
      }
    }
    order.filter(_ >= inputs.size).map(names)
  }
}
