package bigwrap.nn

import bigwrap.nn.Storage.raw
import com.intel.analytics.bigdl.dllib.nn.abstractnn.AbstractModule
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat
import com.intel.analytics.bigdl.dllib.utils.{RandomGenerator, T, Table}

/**
 * The core of Keras' MultiHeadAttention on projected tensors: per batch row and head,
 * softmax(mask(q·kᵀ/√keyDim))·v. Input table: q (batch, T, heads·keyDim), k (batch, S, heads·keyDim),
 * v (batch, S, heads·valueDim), then the masks this module was built to take, in order: the query's
 * (batch, T), the key/value's (batch, S), an attention mask (batch, T, S); each 1 to attend, 0 not. With
 * `causal` query t attends to steps s ≤ t only. Masked scores become -1e9 (Keras' `where(mask, scores, -1e9)`),
 * so a row with nothing to attend to averages every step, as in Keras. The softmax subtracts the row maximum in
 * fp32. With `native` (and the library loaded) each pass is one call to native/src/attention.cpp, products in
 * fp32 in both precisions (it says why); else the same arithmetic runs here, head by head. Dropout (training only)
 * drops attention probabilities as Keras does. Output (batch, T, heads·valueDim); the masks get zero gradients.
 */
final class Attention(heads: Int, keyDim: Int, valueDim: Int, causal: Boolean, dropout: Double,
    queryMask: Boolean, keyMask: Boolean, attentionMask: Boolean, native: Boolean)
  extends AbstractModule[Table, Tensor[Float], Float] {

  private val scale = (1.0 / math.sqrt(keyDim)).toFloat
  private val Masked = -1e9f
  /** A shifted score below this has probability 0, as in native/src/attention.cpp (it says why). */
  private val ExpFloor = -87f
  @transient private lazy val calls = if (native) NativeKernels.calls else None
  // Saved by the forward pass, in buffers kept from call to call: the allowed (query, source) pairs (batch, T, S),
  // the attention probabilities before dropout and the dropout factors (batch, heads, T, S); `dropping` says
  // whether the last forward pass dropped any.
  private var allowed = Array.empty[Boolean]
  private var probabilities, kept = new Array[Float](0)
  private var dropping = false
  private var batch, steps, sources = 0

  private def masks(input: Table): Seq[Option[Tensor[Float]]] = {
    val given = Iterator.from(4).map(input[Tensor[Float]](_).contiguous()) // the masks present, in order
    Seq(queryMask, keyMask, attentionMask).map(present => if (present) Some(given.next()) else None)
  }

  /** `allowed` (batch × T × S): whether query t of batch row b may attend to source s. */
  private def allowPairs(m: Seq[Option[Tensor[Float]]]): Unit = {
    val plane = steps * sources
    if (allowed.length < batch * plane) allowed = new Array[Boolean](batch * plane)
    val ok = allowed
    java.util.Arrays.fill(ok, 0, batch * plane, true)
    def on(mask: (Array[Float], Int), index: Int): Boolean = mask._1(mask._2 + index) > 0.5f
    for (b <- 0 until batch) {
      val base = b * plane
      m(0).map(raw).foreach { query =>
        for (t <- 0 until steps if !on(query, b * steps + t)) {
          java.util.Arrays.fill(ok, base + t * sources, base + (t + 1) * sources, false)
        }
      }
      m(1).map(raw).foreach { key =>
        for (s <- 0 until sources if !on(key, b * sources + s); t <- 0 until steps) ok(base + t * sources + s) = false
      }
      m(2).map(raw).foreach { pairs =>
        var i = 0
        while (i < plane) { ok(base + i) = ok(base + i) && on(pairs, base + i); i += 1 }
      }
      if (causal) for (t <- 0 until steps) {
        java.util.Arrays.fill(ok, base + t * sources + math.min(t + 1, sources), base + (t + 1) * sources, false)
      }
    }
  }

  /** `kept`: the dropout factors (batch, heads, T, S), drawn in training with dropout. */
  private def drawDropFactors(): Unit = {
    dropping = isTraining() && dropout > 0
    if (dropping) {
      val n = batch * heads * steps * sources
      if (kept.length < n) kept = new Array[Float](n)
      val keep = (1.0 / (1.0 - dropout)).toFloat
      var i = 0
      while (i < n) { kept(i) = if (RandomGenerator.RNG.uniform(0, 1) >= dropout) keep else 0f; i += 1 }
    }
  }

  /** The dropout factors for the native kernel: null without dropout. */
  private def factors: Array[Float] = if (dropping) kept else null

  private def dims: Array[Int] = Array(batch, steps, sources, heads, keyDim, valueDim)

  override def updateOutput(input: Table): Tensor[Float] = {
    val Seq(q, k, v) = (1 to 3).map(i => input[Tensor[Float]](i).contiguous())
    batch = q.size(1); steps = q.size(2); sources = k.size(2)
    require(q.nElement() == batch * steps * heads * keyDim && k.nElement() == batch * sources * heads * keyDim &&
      v.nElement() == batch * sources * heads * valueDim, s"$this: inputs of sizes ${q.size().mkString("×")}, " +
      s"${k.size().mkString("×")}, ${v.size().mkString("×")}")
    allowPairs(masks(input))
    val pairs = batch * heads * steps * sources
    if (probabilities.length < pairs) probabilities = new Array[Float](pairs)
    drawDropFactors()
    output.resize(batch, steps, heads * valueDim)
    val (qs, qo) = raw(q); val (ks, ko) = raw(k); val (vs, vo) = raw(v); val (os, oo) = raw(output)
    calls match {
      case Some(kernels) =>
        kernels.attentionForward(dims, scale, qs, qo, ks, ko, vs, vo, allowed, factors, probabilities, os, oo)
      case None =>
        output.zero()
        new HeadLoops().forward(qs, qo, ks, ko, vs, vo, os, oo)
    }
    output
  }

  override def updateGradInput(input: Table, gradOutput: Tensor[Float]): Table = {
    val Seq(q, k, v) = (1 to 3).map(i => input[Tensor[Float]](i).contiguous())
    val dy = gradOutput.contiguous()
    val (qs, qo) = raw(q); val (ks, ko) = raw(k); val (vs, vo) = raw(v); val (ds, dOff) = raw(dy)
    val Seq(dq, dk, dv) = Seq(q, k, v).map(t => Tensor[Float]().resizeAs(t))
    calls match {
      case Some(kernels) =>
        kernels.attentionBackward(dims, scale, qs, qo, ks, ko, vs, vo, allowed, factors, probabilities, ds, dOff,
          dq.storage().array(), dk.storage().array(), dv.storage().array())
      case None =>
        Seq(dq, dk, dv).foreach(_.zero())
        new HeadLoops().backward(qs, qo, ks, ko, vs, vo, ds, dOff, dq.storage().array(), dk.storage().array(),
          dv.storage().array())
    }
    gradInput = T(dq, dk, dv)
    (4 to input.length()).foreach(i => gradInput(i) = Tensor[Float]().resizeAs(input[Tensor[Float]](i)).zero())
    gradInput
  }

  /** The passes without the native library: head by head, each copied out to contiguous matrices. */
  private final class HeadLoops {
    private val plane = steps * sources

    /** Head h of batch row b of a (batch, rows, heads·dim) tensor as a (rows × dim) matrix, or (dim × rows). */
    private def head(x: Array[Float], xo: Int, b: Int, h: Int, rows: Int, dim: Int, into: Array[Float],
        transposed: Boolean = false): Array[Float] = {
      var r = 0
      while (r < rows) {
        val from = xo + ((b * rows + r) * heads + h) * dim
        if (!transposed) System.arraycopy(x, from, into, r * dim, dim)
        else { var d = 0; while (d < dim) { into(d * rows + r) = x(from + d); d += 1 } }
        r += 1
      }
      into
    }

    private def addHead(from: Array[Float], x: Array[Float], xo: Int, b: Int, h: Int, rows: Int, dim: Int): Unit = {
      var r = 0
      while (r < rows) {
        val base = xo + ((b * rows + r) * heads + h) * dim
        var d = 0
        while (d < dim) { x(base + d) += from(r * dim + d); d += 1 }
        r += 1
      }
    }

    /** `into` = the probabilities at `base`, times the dropout factors there if any. */
    private def used(base: Int, into: Array[Float]): Array[Float] = {
      var i = 0
      while (i < plane) {
        into(i) = if (dropping) probabilities(base + i) * kept(base + i) else probabilities(base + i)
        i += 1
      }
      into
    }

    def forward(qs: Array[Float], qo: Int, ks: Array[Float], ko: Int, vs: Array[Float], vo: Int, os: Array[Float],
        oo: Int): Unit = {
      val (qh, kh, vt) = (new Array[Float](steps * keyDim), new Array[Float](sources * keyDim),
        new Array[Float](valueDim * sources))
      val (scores, p, outHead) = (new Array[Float](plane), new Array[Float](plane), new Array[Float](steps * valueDim))
      for (b <- 0 until batch; h <- 0 until heads) {
        val base = (b * heads + h) * plane
        java.util.Arrays.fill(scores, 0f)
        Gemm.nt(head(qs, qo, b, h, steps, keyDim, qh), 0, head(ks, ko, b, h, sources, keyDim, kh), 0, scores, 0, steps,
          keyDim, sources)
        softmaxRows(scores, b * plane)
        System.arraycopy(scores, 0, probabilities, base, plane)
        java.util.Arrays.fill(outHead, 0f)
        Gemm.nt(used(base, p), 0, head(vs, vo, b, h, sources, valueDim, vt, transposed = true), 0, outHead, 0, steps,
          sources, valueDim)
        addHead(outHead, os, oo, b, h, steps, valueDim)
      }
    }

    def backward(qs: Array[Float], qo: Int, ks: Array[Float], ko: Int, vs: Array[Float], vo: Int, ds: Array[Float],
        dOff: Int, dqs: Array[Float], dks: Array[Float], dvs: Array[Float]): Unit = {
      val (qh, kt, vh) = (new Array[Float](steps * keyDim), new Array[Float](keyDim * sources),
        new Array[Float](sources * valueDim))
      val (dOut, p, dp) = (new Array[Float](steps * valueDim), new Array[Float](plane), new Array[Float](plane))
      val (dvHead, dqHead, dkHead) = (new Array[Float](sources * valueDim), new Array[Float](steps * keyDim),
        new Array[Float](sources * keyDim))
      for (b <- 0 until batch; h <- 0 until heads) {
        val base = (b * heads + h) * plane
        head(ds, dOff, b, h, steps, valueDim, dOut)
        // v's gradient: usedᵀ · dOut; the probabilities': dOut · vᵀ, then back through dropout and the softmax.
        java.util.Arrays.fill(dvHead, 0f)
        Gemm.tn(used(base, p), 0, dOut, 0, dvHead, 0, sources, steps, valueDim)
        addHead(dvHead, dvs, 0, b, h, sources, valueDim)
        java.util.Arrays.fill(dp, 0f)
        Gemm.nt(dOut, 0, head(vs, vo, b, h, sources, valueDim, vh), 0, dp, 0, steps, valueDim, sources)
        if (dropping) { var i = 0; while (i < plane) { dp(i) *= kept(base + i); i += 1 } }
        softmaxBackward(base, dp, b * plane)
        java.util.Arrays.fill(dqHead, 0f)
        Gemm.nt(dp, 0, head(ks, ko, b, h, sources, keyDim, kt, transposed = true), 0, dqHead, 0, steps, sources, keyDim)
        addHead(dqHead, dqs, 0, b, h, steps, keyDim)
        java.util.Arrays.fill(dkHead, 0f)
        Gemm.tn(dp, 0, head(qs, qo, b, h, steps, keyDim, qh), 0, dkHead, 0, sources, steps, keyDim)
        addHead(dkHead, dks, 0, b, h, sources, keyDim)
      }
    }

    /** In place: each row of scores → probabilities of the scaled, masked scores, max-subtracted. */
    private def softmaxRows(scores: Array[Float], okBase: Int): Unit = {
      var t = 0
      while (t < steps) {
        val row = t * sources
        var max = Float.NegativeInfinity
        var s = 0
        while (s < sources) {
          val z = if (allowed(okBase + row + s)) scores(row + s) * scale else Masked
          scores(row + s) = z
          if (z > max) max = z
          s += 1
        }
        Softmax.shiftedExpOverSum(scores, row, scores, row, sources, max, ExpFloor)
        t += 1
      }
    }

    /** In place: dp → the scores' gradient p ⊙ (dp − Σ dp⊙p) / √keyDim; masked scores were constants (0). */
    private def softmaxBackward(base: Int, dp: Array[Float], okBase: Int): Unit = {
      var t = 0
      while (t < steps) {
        val row = t * sources
        var dot = 0f
        var s = 0
        while (s < sources) { dot += dp(row + s) * probabilities(base + row + s); s += 1 }
        s = 0
        while (s < sources) {
          val p = probabilities(base + row + s)
          dp(row + s) = if (allowed(okBase + row + s)) p * (dp(row + s) - dot) * scale else 0f
          s += 1
        }
        t += 1
      }
    }
  }

  override def toString: String =
    s"Attention($heads heads, key $keyDim, value $valueDim${if (causal) ", causal" else ""})"
}
