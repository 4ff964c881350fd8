"""The QoS of every topic of the graph, in one place (documented in the README's graph table).

Control path (state -> task action -> command): RELIABLE. Consumers in the loop keep depth 1 (only
the newest message matters); publishers keep a short history and loggers (adaptation, bag
recorder) subscribe with a deep queue so that no transition is lost while they write.
"""
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

#: Publishers of per-step data (state, step outcome, task action, command, risk): a deep history so
#: that a logger lagging behind (bag recorder under load) still receives every message (reliable).
STREAM_PUB = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
#: Subscribers in the control loop: the newest message only.
CONTROL_SUB = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
#: Subscribers that log every message (adaptation buffer, bag recorder).
LOGGER_SUB = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
#: Loggers that pause for seconds (the adaptation node during phase 2): room for ~10 s at 400 steps/s.
BACKLOG_SUB = QoSProfile(depth=5000, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
#: Latched state (fault ground truth, weights blob): late joiners get the last message.
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
#: /clock, as rclpy's TimeSource subscribes it (best effort works with a reliable publisher).
CLOCK = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
#: The weights topic: latched, the last two (a stacked shield's critic and model are sent one after the other, and a
#: monitor busy installing the first must still get the second).
WEIGHTS = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
