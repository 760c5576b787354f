"""LightGBM's own prediction rules (include/LightGBM/tree.h, src/boosting/gbdt_prediction.cpp,
src/boosting/gbdt_model_text.cpp of 4.6), transliterated to Python in double precision, for
model files the tests write themselves.

It is checked against LightGBM 4.6's outputs on the fixtures (run_lightgbm.py): given the
fixtures' inputs as the doubles LightGBM read, its raw scores must equal LightGBM's bit for
bit, so that the hand-made models with split kinds those fixtures lack (missing type Zero
and None, NaN and (-1, 0) in categorical splits, thresholds between floats, legacy layouts)
have expected outputs computed the way LightGBM computes them. Rows are lists of Python
floats: pass float32 values (widened) to get what LightGBM gives for float32 data.

What it follows, each from the LightGBM source:
- Reading: the header is every line up to the first "Tree="; with tree_sizes the trees are
  the ones it lists, tree k at the byte offset its predecessors' sizes add up to; without
  it, the trees follow one another up to the first line that is not a tree.
- Inputs: |x| <= kZeroThreshold (1e-35f) is read as 0 (parser.hpp, c_api.cpp).
- Numerical splits: NaN is 0 unless the missing type is NaN; missing type Zero sends 0 (and
  NaN) the default way, NaN sends NaN the default way; else left when x <= threshold.
- Categorical splits: NaN and negative int casts go right, a code in the bitset left.
- Linear trees: leaf_const + sum(leaf_coeff * x), in order, unless one of the leaf's
  features is NaN: then leaf_value.
- Raw score: the double sum over trees in file order, never averaged. Predict divides it by
  the iterations for average_output (boosting=rf), then applies the objective's link.
"""
import math
import struct

# LightGBM's `const double kZeroThreshold = 1e-35f;`: the float32 literal, widened.
K_ZERO_THRESHOLD = struct.unpack('f', struct.pack('f', 1e-35))[0]


def zeroed(x):
    return 0.0 if -K_ZERO_THRESHOLD <= x <= K_ZERO_THRESHOLD else x


class Tree:
    def __init__(self, fields):
        self.num_leaves = int(fields['num_leaves'])
        self.leaf_value = [float(v) for v in fields['leaf_value'].split()]
        self.is_linear = int(fields.get('is_linear', '0')) == 1
        if self.is_linear:
            n = self.num_leaves
            self.leaf_const = [float(v) for v in fields['leaf_const'].split()] if 'leaf_const' in fields \
                else [0.0] * n
            counts = [int(v) for v in fields['num_features'].split()] if 'num_features' in fields else [0] * n
            feats = [int(float(v)) for v in fields.get('leaf_features', '').split()]
            coeffs = [float(v) for v in fields.get('leaf_coeff', '').split()]
            self.leaf_terms, at = [], 0
            for c in counts:
                self.leaf_terms.append(list(zip(feats[at:at + c], coeffs[at:at + c])))
                at += c
        if self.num_leaves == 1:
            return
        ints = lambda k: [int(float(v)) for v in fields[k].split()]
        self.split_feature = ints('split_feature')
        self.threshold = [float(v) for v in fields['threshold'].split()]
        self.decision_type = ints('decision_type') if 'decision_type' in fields else [0] * (self.num_leaves - 1)
        self.left_child = ints('left_child')
        self.right_child = ints('right_child')
        self.cat_boundaries = ints('cat_boundaries') if 'cat_boundaries' in fields else []
        self.cat_threshold = ints('cat_threshold') if 'cat_threshold' in fields else []

    def _numerical(self, fval, node):
        missing_type = (self.decision_type[node] >> 2) & 3
        default_left = self.decision_type[node] & 2
        if math.isnan(fval) and missing_type != 2:
            fval = 0.0
        if (missing_type == 1 and -K_ZERO_THRESHOLD <= fval <= K_ZERO_THRESHOLD) or \
                (missing_type == 2 and math.isnan(fval)):
            return self.left_child[node] if default_left else self.right_child[node]
        return self.left_child[node] if fval <= self.threshold[node] else self.right_child[node]

    def _categorical(self, fval, node):
        # static_cast<int>(NaN or |x| >= 2^31) is INT_MIN on x86: negative, so right.
        if math.isnan(fval) or not (-2147483648.0 < fval < 2147483648.0):
            return self.right_child[node]
        int_fval = int(fval)  # truncates toward zero, as the C++ cast does
        if int_fval < 0:
            return self.right_child[node]
        cat_idx = int(self.threshold[node])
        lo, hi = self.cat_boundaries[cat_idx], self.cat_boundaries[cat_idx + 1]
        word = int_fval // 32
        if word < hi - lo and (self.cat_threshold[lo + word] >> (int_fval % 32)) & 1:
            return self.left_child[node]
        return self.right_child[node]

    def leaf(self, row):
        """The leaf index ROW (already zeroed) reaches."""
        if self.num_leaves == 1:
            return 0
        node = 0
        while node >= 0:
            fval = row[self.split_feature[node]]
            if self.decision_type[node] & 1:
                node = self._categorical(fval, node)
            else:
                node = self._numerical(fval, node)
        return ~node

    def predict(self, row):
        leaf = self.leaf(row)
        if not self.is_linear:
            return self.leaf_value[leaf]
        out = self.leaf_const[leaf]
        for f, c in self.leaf_terms[leaf]:
            if math.isnan(row[f]):
                return self.leaf_value[leaf]
            out += c * row[f]
        return out


def _tree_fields(lines):
    """Tree::Tree(const char*): key=value lines up to an empty one."""
    fields = {}
    for line in lines:
        if line == '':
            break
        k, v = line.split('=', 1)
        fields[k] = v
    return fields


class Model:
    def __init__(self, text):
        header = {}
        self.average_output = False
        lines = text.split('\n')
        i = 0
        while i < len(lines) and not lines[i].startswith('Tree='):
            line = lines[i].rstrip('\r')
            if line == 'average_output':
                self.average_output = True
            elif '=' in line:
                k, v = line.split('=', 1)
                header[k] = v
            i += 1
        raw_trees = []
        if 'tree_sizes' in header:
            start = len('\n'.join(lines[:i])) + (1 if i else 0)  # byte offset of the first "Tree="
            offset = 0
            for size in [int(s) for s in header['tree_sizes'].split()]:
                block = text[start + offset:]
                assert block.startswith('Tree='), 'tree_sizes points at %r' % block[:20]
                raw_trees.append(_tree_fields(block.split('\n')[1:]))
                offset += size
        else:
            while i < len(lines):
                if lines[i] == '':
                    i += 1
                    continue
                if not lines[i].startswith('Tree='):
                    break
                fields = _tree_fields(lines[i + 1:])
                raw_trees.append(fields)
                i += 1 + len(fields)
        self.k = int(header.get('num_tree_per_iteration', header['num_class']))
        self.objective = header.get('objective', 'custom').split()
        self.trees = [Tree(f) for f in raw_trees]
        self.iterations = len(raw_trees) // self.k

    def raw(self, row):
        """predict_raw_score: the double sum over trees, never averaged."""
        row = [zeroed(v) for v in row]
        out = [0.0] * self.k
        for t, tree in enumerate(self.trees[:self.iterations * self.k]):
            out[t % self.k] += tree.predict(row)
        return out

    def predict(self, row):
        raw = self.raw(row)
        if self.average_output:
            raw = [v / self.iterations for v in raw]
        name = self.objective[0]
        if name in ('binary', 'cross_entropy', 'multiclassova'):
            return [1.0 / (1.0 + math.exp(-v)) for v in raw]
        if name in ('poisson', 'gamma', 'tweedie'):
            return [math.exp(v) for v in raw]
        if name == 'multiclass':
            m = max(raw)
            e = [math.exp(v - m) for v in raw]
            s = 0.0
            for v in e:  # in order, as Common::Softmax adds (Python 3.12's sum() compensates)
                s += v
            return [v / s for v in e]
        return raw
