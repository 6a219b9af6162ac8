"""The networks this server connects to, for every template (connect links, "Connect a … account")."""

from channels import networks


def network_names(request) -> dict:
    specs = networks.specs()
    labels = [spec.label for spec in specs]
    joined = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " or " + labels[-1]
    return {"network_specs": specs, "network_labels": joined}
