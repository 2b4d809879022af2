package bigwrap.nn

/** Row-major float matrix products that accumulate into `c`; small enough for the recurrent layers' per-step work. */
private[nn] object Gemm {
  /** c(m×n) += a(m×k) · b(k×n) */
  def nn(a: Array[Float], ao: Int, b: Array[Float], bo: Int, c: Array[Float], co: Int, m: Int, k: Int, n: Int): Unit = {
    var i = 0
    while (i < m) {
      var p = 0
      while (p < k) {
        val av = a(ao + i * k + p)
        if (av != 0f) addScaled(av, b, bo + p * n, c, co + i * n, n)
        p += 1
      }
      i += 1
    }
  }

  /** c(m×n) += aᵀ · b with a stored (k×m) */
  def tn(a: Array[Float], ao: Int, b: Array[Float], bo: Int, c: Array[Float], co: Int, m: Int, k: Int, n: Int): Unit = {
    var p = 0
    while (p < k) {
      var i = 0
      while (i < m) {
        val av = a(ao + p * m + i)
        if (av != 0f) addScaled(av, b, bo + p * n, c, co + i * n, n)
        i += 1
      }
      p += 1
    }
  }

  /** c(cRow, n values) += av · b(bRow, n values): one row of a product. */
  private def addScaled(av: Float, b: Array[Float], bRow: Int, c: Array[Float], cRow: Int, n: Int): Unit = {
    var j = 0
    while (j < n) { c(cRow + j) += av * b(bRow + j); j += 1 }
  }

  /** c(m×n) += a(m×k) · bᵀ with b stored (n×k) */
  def nt(a: Array[Float], ao: Int, b: Array[Float], bo: Int, c: Array[Float], co: Int, m: Int, k: Int, n: Int): Unit = {
    var i = 0
    while (i < m) {
      var j = 0
      while (j < n) {
        var sum = 0f
        var p = 0
        val aRow = ao + i * k
        val bRow = bo + j * k
        while (p < k) { sum += a(aRow + p) * b(bRow + p); p += 1 }
        c(co + i * n + j) += sum
        j += 1
      }
      i += 1
    }
  }
}
