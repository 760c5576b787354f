"""LightGBM's own prediction rules (include/LightGBM/tree.h, src/boosting/gbdt_prediction.cpp),
transliterated to Python in double precision, for model files the tests write themselves.

It is checked against LightGBM 4.6's outputs on the ../shared fixtures (run_lightgbm.py), so
that the hand-made models with split kinds those fixtures lack (missing type Zero and None,
NaN and (-1, 0) in categorical splits, thresholds between floats, averaged forests) have
expected outputs computed the way LightGBM computes them. Inputs are float32 cast to double,
as grove receives them.
"""
import math
import struct

# LightGBM's `const double kZeroThreshold = 1e-35f;`: the float32 literal, widened.
K_ZERO_THRESHOLD = struct.unpack('f', struct.pack('f', 1e-35))[0]


class Tree:
    def __init__(self, fields):
        self.num_leaves = int(fields['num_leaves'])
        self.leaf_value = [float(v) for v in fields['leaf_value'].split()]
        if self.num_leaves == 1:
            return
        ints = lambda k: [int(float(v)) for v in fields[k].split()]
        self.split_feature = ints('split_feature')
        self.threshold = [float(v) for v in fields['threshold'].split()]
        self.decision_type = ints('decision_type')
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

    def predict(self, row):
        if self.num_leaves == 1:
            return self.leaf_value[0]
        node = 0
        while node >= 0:
            fval = row[self.split_feature[node]]
            if self.decision_type[node] & 1:
                node = self._categorical(fval, node)
            else:
                node = self._numerical(fval, node)
        return self.leaf_value[~node]


class Model:
    def __init__(self, text):
        header, trees, fields = {}, [], None
        self.average_output = False
        lines = text.split('\n')
        i = 0
        while i < len(lines) and not lines[i].startswith('Tree='):
            line = lines[i]
            if line == 'average_output':
                self.average_output = True
            elif '=' in line:
                k, v = line.split('=', 1)
                header[k] = v
            i += 1
        raw_trees = []
        for line in lines[i:]:
            if line == 'end of trees':
                break
            if line.startswith('Tree='):
                fields = {}
                raw_trees.append(fields)
            elif '=' in line and fields is not None:
                k, v = line.split('=', 1)
                fields[k] = v
        self.k = int(header['num_tree_per_iteration'])
        self.objective = header.get('objective', 'custom').split()
        self.trees = [Tree(f) for f in raw_trees]
        self.iterations = len(raw_trees) // self.k

    def raw(self, row):
        out = [0.0] * self.k
        for t, tree in enumerate(self.trees):
            out[t % self.k] += tree.predict(row)
        if self.average_output:
            out = [v / self.iterations for v in out]
        return out

    def predict(self, row):
        raw = self.raw(row)
        name = self.objective[0]
        if name in ('binary', 'cross_entropy', 'multiclassova'):
            return [1.0 / (1.0 + math.exp(-v)) for v in raw]
        if name in ('poisson', 'gamma', 'tweedie'):
            return [math.exp(v) for v in raw]
        if name == 'multiclass':
            m = max(raw)
            e = [math.exp(v - m) for v in raw]
            s = sum(e)
            return [v / s for v in e]
        return raw
