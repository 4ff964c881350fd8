# Sourced by the fold scripts: the task JSON of a fault, every joint named lost entirely.
#   fault_task bthigh ffoot   -> {"power_scale": {"bthigh": 0, "ffoot": 0}}
#   fault_task bthigh+ffoot   -> the same ('+' joins the joints of a fault name)
fault_task() {
  local s='{"power_scale": {' first=1 j
  for j in ${*//+/ }; do [ $first = 1 ] || s+=', '; s+="\"$j\": 0"; first=0; done
  echo "$s}}"
}
