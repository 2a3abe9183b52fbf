//! The `depends_on` graph: cycles and ancestry.
//!
//! Edges point from a step to the steps it depends on. Everything here is iterative, so a
//! long chain of steps cannot overflow the stack.

use std::collections::VecDeque;

/// `edges[i]` are the steps step `i` depends on (no self-loops, no duplicates).
pub(crate) struct Graph {
    edges: Vec<Vec<usize>>,
}

impl Graph {
    pub(crate) fn new(edges: Vec<Vec<usize>>) -> Self {
        Self { edges }
    }

    /// One cycle per strongly connected component that has one, each as the list of
    /// steps `[a, b, c]` meaning a depends on b, b on c and c on a. Each cycle starts at
    /// the component's first step (in definition order) and is a shortest cycle through
    /// it; cycles are sorted by that first step. Deterministic for a given graph.
    pub(crate) fn cycles(&self) -> Vec<Vec<usize>> {
        let mut components: Vec<Vec<usize>> = self
            .strongly_connected_components()
            .into_iter()
            .filter(|c| c.len() > 1)
            .collect();
        for c in &mut components {
            c.sort_unstable();
        }
        components.sort();
        components
            .iter()
            .map(|component| self.shortest_cycle_through(component))
            .collect()
    }

    /// Breadth-first search from the component's first node back to itself, staying
    /// inside the component (where every node reaches every other).
    fn shortest_cycle_through(&self, component: &[usize]) -> Vec<usize> {
        let start = component[0];
        let n = self.edges.len();
        let mut inside = vec![false; n];
        for &v in component {
            inside[v] = true;
        }
        let mut parent: Vec<Option<usize>> = vec![None; n];
        let mut seen = vec![false; n];
        seen[start] = true;
        let mut queue = VecDeque::from([start]);
        while let Some(u) = queue.pop_front() {
            for &v in &self.edges[u] {
                if v == start {
                    let mut path = vec![u];
                    let mut at = u;
                    while let Some(p) = parent[at] {
                        path.push(p);
                        at = p;
                    }
                    path.reverse();
                    return path;
                }
                if inside[v] && !seen[v] {
                    seen[v] = true;
                    parent[v] = Some(u);
                    queue.push_back(v);
                }
            }
        }
        // Unreachable for a real component of two or more nodes; fall back to the
        // component itself rather than panic.
        component.to_vec()
    }

    /// Tarjan's algorithm with an explicit stack.
    fn strongly_connected_components(&self) -> Vec<Vec<usize>> {
        let n = self.edges.len();
        let mut index = vec![usize::MAX; n];
        let mut low = vec![0; n];
        let mut on_stack = vec![false; n];
        let mut stack = Vec::new();
        let mut components = Vec::new();
        let mut next_index = 0;
        for root in 0..n {
            if index[root] != usize::MAX {
                continue;
            }
            // (node, position in its edge list)
            let mut work = vec![(root, 0usize)];
            index[root] = next_index;
            low[root] = next_index;
            next_index += 1;
            stack.push(root);
            on_stack[root] = true;
            while let Some(top) = work.last_mut() {
                let v = top.0;
                if let Some(&w) = self.edges[v].get(top.1) {
                    top.1 += 1;
                    if index[w] == usize::MAX {
                        index[w] = next_index;
                        low[w] = next_index;
                        next_index += 1;
                        stack.push(w);
                        on_stack[w] = true;
                        work.push((w, 0));
                    } else if on_stack[w] {
                        low[v] = low[v].min(index[w]);
                    }
                    continue;
                }
                work.pop();
                if let Some(&(parent, _)) = work.last() {
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut component = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        component.push(w);
                        if w == v {
                            break;
                        }
                    }
                    components.push(component);
                }
            }
        }
        components
    }

    /// `result[a]` is true when step `a` is an ancestor of `step`: `step` depends on it
    /// directly or transitively.
    pub(crate) fn ancestors(&self, step: usize) -> Vec<bool> {
        let mut seen = vec![false; self.edges.len()];
        let mut queue: VecDeque<usize> = self.edges[step].iter().copied().collect();
        while let Some(u) = queue.pop_front() {
            if !std::mem::replace(&mut seen[u], true) {
                queue.extend(self.edges[u].iter().copied());
            }
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[&[usize]]) -> Graph {
        Graph::new(edges.iter().map(|e| e.to_vec()).collect())
    }

    #[test]
    fn a_dag_has_no_cycle() {
        // 0 <- 1, 0 <- 2, (1, 2) <- 3
        assert!(graph(&[&[], &[0], &[0], &[1, 2]]).cycles().is_empty());
    }

    #[test]
    fn a_cycle_is_reported_from_its_first_step() {
        // 0 -> 2 -> 1 -> 0, plus a dangling 3 -> 0
        let g = graph(&[&[2], &[0], &[1], &[0]]);
        assert_eq!(g.cycles(), vec![vec![0, 2, 1]]);
    }

    #[test]
    fn the_shortest_cycle_through_the_first_step_is_chosen() {
        // 0 -> 1 -> 2 -> 3 -> 0 and 0 -> 3
        let g = graph(&[&[1, 3], &[2], &[3], &[0]]);
        assert_eq!(g.cycles(), vec![vec![0, 3]]);
    }

    #[test]
    fn each_independent_cycle_is_reported() {
        let g = graph(&[&[1], &[0], &[3], &[2], &[]]);
        assert_eq!(g.cycles(), vec![vec![0, 1], vec![2, 3]]);
    }

    #[test]
    fn ancestors_are_transitive() {
        let g = graph(&[&[], &[0], &[1], &[]]);
        assert_eq!(g.ancestors(2), vec![true, true, false, false]);
        assert_eq!(g.ancestors(0), vec![false; 4]);
    }

    #[test]
    fn a_long_chain_does_not_overflow_the_stack() {
        let n = 200_000;
        let edges = (0..n)
            .map(|i| if i == 0 { vec![n - 1] } else { vec![i - 1] })
            .collect();
        let cycles = Graph::new(edges).cycles();
        assert_eq!(cycles.len(), 1);
        assert_eq!(cycles[0].len(), n);
    }
}
