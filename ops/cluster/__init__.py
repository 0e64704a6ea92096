"""A cluster on one machine: every host a Linux network namespace on a broker and a database
network (`ticketwar cluster up|down|status|cut|heal`), for breaking the network mid-surge."""
