package bigwrap.dl4j

import org.json4s._

import Dl4jLayers.{activation, columnMajor, layer, Call, Converted, Layer}

/** Embedding, LSTM, PeepholeLSTM (DL4J's GravesLSTM) and SimpleRNN over NWC sequences [N, time, size]. */
private[dl4j] object Recurrent {
  // DL4J's LSTM blocks [block input, forget, output, input modulation] are Keras' gates c, f, o, i (of i, f, c, o).
  private val KerasGateOfBlock = Seq(2, 1, 3, 0)

  def embedding(call: Call): Converted = {
    val Seq(steps) = call.input
    val (nIn, nOut) = (call.layer.int("input_dim"), call.layer.int("output_dim"))
    val json = layer("EmbeddingSequenceLayer", call, "nin" -> JInt(nIn), "nout" -> JInt(nOut),
      "inputLength" -> JInt(steps), "inferInputLength" -> JBool(false), "hasBias" -> JBool(false),
      "outputFormat" -> JString("NWC"), "activationFn" -> activation(call, "linear"))
    Layer(json, columnMajor(call.weight("embeddings"), nIn, nOut))
  }

  def recurrent(call: Call): Converted = {
    val nIn = call.input match {
      case Seq(_, features) => features
      case other => call.refuse(s"takes sequences (steps, features), got ${other.mkString("(", ", ", ")")}")
    }
    if (call.layer.bool("go_backwards")) call.refuse("runs backwards (go_backwards); DL4J's recurrent layers run " +
      "forwards (wrap them in Bidirectional)")
    val n = call.layer.int("units")
    val (cls, gates, peepholes) = call.layer.className match {
      case "LSTM" => ("LSTM", 4, false)
      case "PeepholeLSTM" => ("GravesLSTM", 4, true)
      case _ => ("recurrent.SimpleRnn", 1, false)
    }
    val gateFields = if (gates == 4) Seq("gateActivationFn" -> activation(call, call.layer.string("recurrent_activation")),
      "forgetGateBiasInit" -> JDouble(1.0), "helperAllowFallback" -> JBool(true)) else Seq("hasLayerNorm" -> JBool(false))
    val fields = Seq("nin" -> JInt(nIn), "nout" -> JInt(n), "rnnDataFormat" -> JString("NWC"),
      "activationFn" -> activation(call, call.layer.string("activation"))) ++ gateFields
    val inner = layer(cls, call, fields: _*)
    val json = if (call.layer.bool("return_sequences")) inner else JObject(
      "@class" -> JString("org.deeplearning4j.nn.conf.layers.recurrent.LastTimeStep"),
      "layerName" -> JString(call.layer.name), "underlying" -> inner)

    def blocks(values: Array[Float], rows: Int): Array[Float] = if (gates == 1) values else {
      val cols = 4 * n
      val out = new Array[Float](values.length)
      for (r <- 0 until rows; b <- 0 until 4; j <- 0 until n)
        out(r * cols + b * n + j) = values(r * cols + KerasGateOfBlock(b) * n + j)
      out
    }
    val kernel = columnMajor(blocks(call.weight("kernel"), nIn), nIn, gates * n)
    val recurrentRows = blocks(call.weight("recurrent_kernel"), n)
    // GravesLSTM's RW 'f' [n, 4n + 3]: its last columns are the forget, output and input-modulation peepholes.
    val recurrent = if (!peepholes) columnMajor(recurrentRows, n, gates * n) else
      columnMajor(recurrentRows, n, 4 * n) ++ Seq("forget", "output", "input").flatMap(g =>
        call.weight(s"${g}_gate_peephole_weights"))
    val bias = if (call.has("bias")) blocks(call.weight("bias"), 1) else new Array[Float](gates * n)
    Layer(json, kernel ++ recurrent ++ bias)
  }
}
