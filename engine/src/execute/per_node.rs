//! A value for each node of the playbook's graph, in a vector indexed by the node.
//!
//! The executor looks up a step's state, position and unmet needs several times a step.
//! petgraph's node indices are dense (0..node_count), so a vector does it without hashing,
//! and its values sit together in memory: a 10,000-step run touches less of it than of a
//! hash map's scattered buckets.

use petgraph::graph::NodeIndex;
use std::ops::{Index, IndexMut};

#[derive(Debug, Clone)]
pub(super) struct PerNode<T>(Vec<T>);

impl<T: Clone> PerNode<T> {
    /// `value` for each of `nodes` nodes.
    pub fn new(nodes: usize, value: T) -> Self {
        Self(vec![value; nodes])
    }

    /// Every node's value, steps and compensations alike.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.0.iter()
    }

    /// Sets every node's value to `value`.
    pub fn fill(&mut self, value: T) {
        self.0.fill(value);
    }
}

impl<T> Index<NodeIndex> for PerNode<T> {
    type Output = T;

    fn index(&self, node: NodeIndex) -> &T {
        &self.0[node.index()]
    }
}

impl<T> IndexMut<NodeIndex> for PerNode<T> {
    fn index_mut(&mut self, node: NodeIndex) -> &mut T {
        &mut self.0[node.index()]
    }
}
