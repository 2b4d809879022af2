package bigwrap.nn

import bigwrap.nn.Storage.raw
import com.intel.analytics.bigdl.dllib.nn.abstractnn.{AbstractModule, Activity}
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat
import com.intel.analytics.bigdl.dllib.utils.{T, Table}

/**
 * SimpleRNN, LSTM and GRU exactly as Keras computes them, with Keras' weights as they are: kernel
 * (features, gates·units), recurrent_kernel (units, gates·units), bias (gates·units), or (2, 3·units) for
 * GRU's reset_after form. LSTM gates i, f, c, o; GRU gates z, r, h. BigDL's cells differ (GRU without
 * reset_after, other gate layouts, separate modules per gate), hence this module: forward and hand-written
 * backpropagation through time over (batch, steps, features). With go_backwards the steps are read last
 * to first and, like Keras, the sequence output is in that processing order. PeepholeLSTM is the LSTM whose
 * input and forget gates also see c(t-1) and whose output gate sees c(t), each through a (units) weight vector.
 * The input is x, or the table (x, mask (batch, steps)) for a masked sequence: as in Keras, a masked step leaves
 * the state as it was and outputs the previous output, or zeros with `zeroMaskedOutputs` (Bidirectional's rule).
 */
final class KerasRecurrent(kind: String, inputSize: Int, units: Int, activation: String, recurrentActivation: String,
    useBias: Boolean, returnSequences: Boolean, goBackwards: Boolean, zeroMaskedOutputs: Boolean = false)
  extends AbstractModule[Activity, Tensor[Float], Float] {
  require(Set("SimpleRNN", "LSTM", "PeepholeLSTM", "GRU").contains(kind), s"unknown recurrent layer $kind")
  private val gates = kind match { case "SimpleRNN" => 1; case "GRU" => 3; case _ => 4 }
  private val width = gates * units
  private val gru = kind == "GRU"
  private val lstm = kind.endsWith("LSTM")
  private val peephole = kind == "PeepholeLSTM"

  val kernel: Tensor[Float] = Tensor[Float](inputSize, width)
  val recurrentKernel: Tensor[Float] = Tensor[Float](units, width)
  val bias: Tensor[Float] = if (!useBias) Tensor[Float]() else if (gru) Tensor[Float](2, width) else Tensor[Float](width)
  val gradKernel: Tensor[Float] = Tensor[Float](inputSize, width)
  val gradRecurrentKernel: Tensor[Float] = Tensor[Float](units, width)
  val gradBias: Tensor[Float] = Tensor[Float]().resizeAs(bias)
  /** Peephole weights of the input, forget and output gates, one (units) row each. */
  val peepholes: Tensor[Float] = if (peephole) Tensor[Float](3, units) else Tensor[Float]()
  val gradPeepholes: Tensor[Float] = Tensor[Float]().resizeAs(peepholes)

  // Saved by the forward pass for backpropagation.
  private var batch, steps = 0
  private var states = new Array[Float](0) // h before step 0, after step 0, ...: (steps + 1) × batch × units
  private var cells = new Array[Float](0) // LSTM c, same layout
  private var gateValues = new Array[Float](0) // activated gates per step: steps × batch × width
  private var recurrentH = new Array[Float](0) // GRU: h·U_h + b_h per step, steps × batch × units
  private var dKernel, dRecurrent, dBias, dPeepholes = new Array[Float](0)
  private var keep: Array[Boolean] = null // (batch × steps) from the mask; null: every step counts
  private val dx = Tensor[Float]()

  private def kept(b: Int, t: Int): Boolean = keep == null || keep(b * steps + t)

  private def sequence(input: Activity): Tensor[Float] = input match {
    case x: Tensor[Float] @unchecked => x
    case table: Table => table[Tensor[Float]](1)
  }

  private def f(name: String, x: Float): Float = name match {
    case "tanh" => math.tanh(x).toFloat
    case "sigmoid" => (1.0 / (1.0 + math.exp(-x))).toFloat
    case "relu" => math.max(x, 0f)
    case "softsign" => x / (1f + math.abs(x))
    case _ => x
  }

  /** The derivative expressed through the activation's output y. */
  private def df(name: String, y: Float): Float = name match {
    case "tanh" => 1f - y * y
    case "sigmoid" => y * (1f - y)
    case "relu" => if (y > 0f) 1f else 0f
    case "softsign" => (1f - math.abs(y)) * (1f - math.abs(y))
    case _ => 1f
  }

  private def step(s: Int): Int = if (goBackwards) steps - 1 - s else s

  override def updateOutput(input: Activity): Tensor[Float] = {
    val x = sequence(input).contiguous()
    batch = x.size(1)
    steps = x.size(2)
    keep = input match {
      case table: Table =>
        val (ms, mo) = raw(table[Tensor[Float]](2).contiguous())
        Array.tabulate(batch * steps)(i => ms(mo + i) > 0.5f)
      case _ => null
    }
    val (xs, xo) = raw(x)
    val (ks, ko) = raw(kernel)
    val (rs, ro) = raw(recurrentKernel)
    val n = batch
    val u = units
    val inputPart = new Array[Float](n * steps * width)
    Gemm.nn(xs, xo, ks, ko, inputPart, 0, n * steps, inputSize, width)
    if (useBias) {
      val (bs, bo) = raw(bias)
      var row = 0
      while (row < n * steps) { var g = 0; while (g < width) { inputPart(row * width + g) += bs(bo + g); g += 1 }; row += 1 }
    }
    states = new Array[Float]((steps + 1) * n * u)
    cells = if (lstm) new Array[Float]((steps + 1) * n * u) else cells
    val (ps, po) = if (peephole) raw(peepholes) else (Array.emptyFloatArray, 0)
    gateValues = new Array[Float](steps * n * width)
    recurrentH = if (gru) new Array[Float](steps * n * u) else recurrentH
    val hu = new Array[Float](n * width)
    var s = 0
    while (s < steps) {
      val t = step(s)
      java.util.Arrays.fill(hu, 0f)
      Gemm.nn(states, s * n * u, rs, ro, hu, 0, n, u, width)
      if (gru && useBias) {
        val (bs, bo) = raw(bias)
        var b = 0
        while (b < n) { var g = 0; while (g < width) { hu(b * width + g) += bs(bo + width + g); g += 1 }; b += 1 }
      }
      var b = 0
      while (b < n) {
        val xRow = (b * steps + t) * width
        val gRow = (s * n + b) * width
        var j = if (kept(b, t)) 0 else {
          // A masked step: the state (and an LSTM's cell) carries over unchanged.
          System.arraycopy(states, s * n * u + b * u, states, (s + 1) * n * u + b * u, u)
          if (lstm) System.arraycopy(cells, s * n * u + b * u, cells, (s + 1) * n * u + b * u, u)
          u
        }
        while (j < u) {
          val prev = states(s * n * u + b * u + j)
          val next = kind match {
            case "SimpleRNN" =>
              f(activation, inputPart(xRow + j) + hu(b * width + j))
            case "LSTM" | "PeepholeLSTM" =>
              def pre(g: Int) = inputPart(xRow + g * u + j) + hu(b * width + g * u + j)
              def look(gate: Int, c: Float) = if (peephole) ps(po + gate * u + j) * c else 0f
              val cPrev = cells(s * n * u + b * u + j)
              val i = f(recurrentActivation, pre(0) + look(0, cPrev))
              val fg = f(recurrentActivation, pre(1) + look(1, cPrev))
              val c = f(activation, pre(2))
              val cell = fg * cPrev + i * c
              val o = f(recurrentActivation, pre(3) + look(2, cell))
              gateValues(gRow + j) = i; gateValues(gRow + u + j) = fg
              gateValues(gRow + 2 * u + j) = c; gateValues(gRow + 3 * u + j) = o
              cells((s + 1) * n * u + b * u + j) = cell
              o * f(activation, cell)
            case _ =>
              val z = f(recurrentActivation, inputPart(xRow + j) + hu(b * width + j))
              val r = f(recurrentActivation, inputPart(xRow + u + j) + hu(b * width + u + j))
              val hRec = hu(b * width + 2 * u + j)
              val candidate = f(activation, inputPart(xRow + 2 * u + j) + r * hRec)
              gateValues(gRow + j) = z; gateValues(gRow + u + j) = r; gateValues(gRow + 2 * u + j) = candidate
              recurrentH((s * n + b) * u + j) = hRec
              z * prev + (1f - z) * candidate
          }
          if (kind == "SimpleRNN") gateValues(gRow + j) = next
          states((s + 1) * n * u + b * u + j) = next
          j += 1
        }
        b += 1
      }
      s += 1
    }
    if (returnSequences) {
      output.resize(n, steps, u)
      val (os, oo) = raw(output)
      for (b <- 0 until n; s2 <- 0 until steps) {
        val to = oo + (b * steps + s2) * u
        if (zeroMaskedOutputs && !kept(b, step(s2))) java.util.Arrays.fill(os, to, to + u, 0f)
        else System.arraycopy(states, (s2 + 1) * n * u + b * u, os, to, u)
      }
    } else {
      output.resize(n, u)
      val (os, oo) = raw(output)
      System.arraycopy(states, steps * n * u, os, oo, n * u)
    }
    output
  }

  override def updateGradInput(input: Activity, gradOutput: Tensor[Float]): Activity = {
    val x = sequence(input).contiguous()
    val dy = gradOutput.contiguous()
    val (ys, yo) = raw(dy)
    val (rs, ro) = raw(recurrentKernel)
    val n = batch
    val u = units
    val dh = new Array[Float](n * u)
    val dc = new Array[Float](n * u)
    val direct = new Array[Float](n * u)
    val carried = new Array[Float](n * u) // masked steps pass the state's gradient straight back
    val dPre = new Array[Float](n * width)
    val dInputPart = new Array[Float](n * steps * width)
    dRecurrent = new Array[Float](u * width)
    val dBiasRecurrent = new Array[Float](width)
    dPeepholes = new Array[Float](peepholes.nElement())
    val (ps, po) = if (peephole) raw(peepholes) else (Array.emptyFloatArray, 0)
    var s = steps - 1
    while (s >= 0) {
      val t = step(s)
      var b = 0
      while (b < n) {
        val masked = !kept(b, t)
        var j = 0
        while (j < u) {
          val k = b * u + j
          if (returnSequences) { if (!(masked && zeroMaskedOutputs)) dh(k) += ys(yo + (b * steps + s) * u + j) }
          else if (s == steps - 1) dh(k) += ys(yo + k)
          val gRow = (s * n + b) * width
          val pRow = b * width
          carried(k) = if (masked) dh(k) else 0f
          if (masked) {
            java.util.Arrays.fill(dPre, pRow + j * 0, pRow + width, 0f)
            if (gru) direct(k) = 0f
          } else kind match {
            case "SimpleRNN" =>
              dPre(pRow + j) = dh(k) * df(activation, gateValues(gRow + j))
            case "LSTM" | "PeepholeLSTM" =>
              val i = gateValues(gRow + j); val fg = gateValues(gRow + u + j)
              val c = gateValues(gRow + 2 * u + j); val o = gateValues(gRow + 3 * u + j)
              val cPrev = cells(s * n * u + k)
              val cell = cells((s + 1) * n * u + k)
              val tc = f(activation, cell)
              val dOut = dh(k) * tc * df(recurrentActivation, o)
              // With peepholes the output gate reads c(t) and the input and forget gates c(t-1).
              val dCell = dc(k) + dh(k) * o * df(activation, tc) + (if (peephole) dOut * ps(po + 2 * u + j) else 0f)
              val dIn = dCell * c * df(recurrentActivation, i)
              val dForget = dCell * cPrev * df(recurrentActivation, fg)
              dPre(pRow + j) = dIn
              dPre(pRow + u + j) = dForget
              dPre(pRow + 2 * u + j) = dCell * i * df(activation, c)
              dPre(pRow + 3 * u + j) = dOut
              dc(k) = dCell * fg
              if (peephole) {
                dc(k) += dIn * ps(po + j) + dForget * ps(po + u + j)
                dPeepholes(j) += dIn * cPrev; dPeepholes(u + j) += dForget * cPrev; dPeepholes(2 * u + j) += dOut * cell
              }
            case _ =>
              val z = gateValues(gRow + j); val r = gateValues(gRow + u + j); val candidate = gateValues(gRow + 2 * u + j)
              val prev = states(s * n * u + k)
              val dCandidate = dh(k) * (1f - z) * df(activation, candidate)
              dPre(pRow + j) = dh(k) * (prev - candidate) * df(recurrentActivation, z)
              dPre(pRow + u + j) = dCandidate * recurrentH((s * n + b) * u + j) * df(recurrentActivation, r)
              dPre(pRow + 2 * u + j) = dCandidate
              direct(k) = dh(k) * z
          }
          j += 1
        }
        System.arraycopy(dPre, b * width, dInputPart, (b * steps + t) * width, width)
        if (gru) {
          // The recurrent part of the candidate enters scaled by r.
          var j2 = 0
          while (j2 < u) { dPre(b * width + 2 * u + j2) *= gateValues((s * n + b) * width + u + j2); j2 += 1 }
        }
        b += 1
      }
      Gemm.tn(states, s * n * u, dPre, 0, dRecurrent, 0, u, n, width)
      if (gru) { var b2 = 0; while (b2 < n) { var g = 0; while (g < width) { dBiasRecurrent(g) += dPre(b2 * width + g); g += 1 }; b2 += 1 } }
      java.util.Arrays.fill(dh, 0f)
      Gemm.nt(dPre, 0, rs, ro, dh, 0, n, width, u)
      var k = 0
      while (k < n * u) { dh(k) += carried(k) + (if (gru) direct(k) else 0f); k += 1 }
      s -= 1
    }
    val (xs, xo) = raw(x)
    val (ks, ko) = raw(kernel)
    dKernel = new Array[Float](inputSize * width)
    Gemm.tn(xs, xo, dInputPart, 0, dKernel, 0, inputSize, n * steps, width)
    dBias = new Array[Float](if (!useBias) 0 else if (gru) 2 * width else width)
    if (useBias) {
      var row = 0
      while (row < n * steps) { var g = 0; while (g < width) { dBias(g) += dInputPart(row * width + g); g += 1 }; row += 1 }
      if (gru) System.arraycopy(dBiasRecurrent, 0, dBias, width, width)
    }
    dx.resize(n, steps, inputSize).zero()
    val (gs, go) = raw(dx)
    Gemm.nt(dInputPart, 0, ks, ko, gs, go, n * steps, width, inputSize)
    gradInput = input match {
      case table: Table => T(dx, Tensor[Float]().resizeAs(table[Tensor[Float]](2)).zero())
      case _ => dx
    }
    gradInput
  }

  override def accGradParameters(input: Activity, gradOutput: Tensor[Float]): Unit = {
    def add(target: Tensor[Float], values: Array[Float]): Unit = {
      val (ts, to) = raw(target)
      var i = 0
      while (i < values.length) { ts(to + i) += scaleW.toFloat * values(i); i += 1 }
    }
    add(gradKernel, dKernel)
    add(gradRecurrentKernel, dRecurrent)
    if (useBias) add(gradBias, dBias)
    if (peephole) add(gradPeepholes, dPeepholes)
  }

  override def parameters(): (Array[Tensor[Float]], Array[Tensor[Float]]) = {
    val weights = Seq(kernel, recurrentKernel) ++ (if (useBias) Seq(bias) else Nil) ++ (if (peephole) Seq(peepholes) else Nil)
    val grads = Seq(gradKernel, gradRecurrentKernel) ++ (if (useBias) Seq(gradBias) else Nil) ++
      (if (peephole) Seq(gradPeepholes) else Nil)
    (weights.toArray, grads.toArray)
  }
}
